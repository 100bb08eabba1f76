"""``python -m cli``: the ``ehr`` command."""

from cli.main import app

app()
