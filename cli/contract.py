"""``ehr schemas export``: the published contract (JSON Schema per event, AsyncAPI 3 of the
topics), from every service's events as the manifests list them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from cli.console import console, fail
from cli.manifests import registry
from libs.config import REPO_ROOT
from libs.web.manifest import Manifest


def schemas_app(manifests: Sequence[Manifest]) -> typer.Typer:
    schemas = typer.Typer(help="The published contract: JSON Schema and AsyncAPI.",
                          no_args_is_help=True)

    @schemas.command("export")
    def schemas_export(
        out: Annotated[Path, typer.Option(help="folder")] = REPO_ROOT / "schemas",
        check: Annotated[bool, typer.Option(help="only report stale files")] = False,
    ) -> None:
        """Write JSON Schema per event and the AsyncAPI 3 document of the topics."""
        from libs.events import schemas as sch

        events = registry(tuple(manifests))
        if check:
            problems = sch.stale(out, events)
            if problems:
                fail("schemas are stale (run `ehr schemas export`): " + "; ".join(problems))
            console.print("[green]✓[/] schemas are up to date")
            return
        written = sch.export(out, events)
        console.print(f"[green]✓[/] wrote {len(written)} files under {out}")

    return schemas
