"""Asserting that a pure decide function refuses, with the kind of domain error (and so the
status a client would see: ``libs/web/errors.py`` maps each kind to one)."""

from __future__ import annotations

import pytest

from libs.kernel.errors import DomainError
from libs.web.errors import status_of


def refused(kind: type[DomainError] | int, fn, /, *args, **kw) -> str:
    """Call ``fn``; it must raise exactly ``kind`` (``Conflict``, ``Invalid``, ...), or a kind
    answered with the status ``kind``. Returns the message (so a test can check it reads
    well)."""
    with pytest.raises(DomainError) as exc:
        fn(*args, **kw)
    if isinstance(kind, int):
        assert status_of(exc.value) == kind, exc.value.message
    else:
        assert type(exc.value) is kind, repr(exc.value)
    return exc.value.message
