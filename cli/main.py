"""``ehr``: one command line for operators and developers, built from the services' manifests.

``build_app(manifests)`` assembles the command for any set of services (the tests add a
test-only one); ``app`` is the command of this system's services."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from cli.audit import audit_app
from cli.contract import schemas_app
from cli.deploy import add_deploy_commands
from cli.gateway import gateway_app
from cli.manifests import MANIFESTS
from cli.seed import seed
from cli.services import serve_app, services_app
from cli.stack import db_app, dev, topics
from cli.streams import add_stream_commands
from cli.tokens import tokens
from libs.web.manifest import Manifest


def build_app(manifests: Sequence[Manifest] = MANIFESTS) -> typer.Typer:
    app = typer.Typer(help="Health and care record: local stack, topics, projections, schemas.",
                      no_args_is_help=True, pretty_exceptions_enable=False)
    app.add_typer(dev, name="dev")
    app.add_typer(db_app(manifests), name="db")
    app.add_typer(topics, name="topics")
    app.add_typer(schemas_app(manifests), name="schemas")
    add_stream_commands(app, manifests)
    app.add_typer(audit_app(manifests), name="audit")
    app.add_typer(tokens, name="token")
    app.add_typer(serve_app(manifests), name="serve")
    app.add_typer(services_app(manifests), name="services")
    app.add_typer(gateway_app(manifests), name="gateway")
    app.add_typer(seed, name="seed")
    add_deploy_commands(app, manifests)   # ehr run api|relay|projections, ehr chart ...
    for manifest in manifests:   # the services' own commands (import, catalogue, ...)
        for name, sub in manifest.commands:
            app.add_typer(sub, name=name)
    return app


app = build_app()

if __name__ == "__main__":
    app()
