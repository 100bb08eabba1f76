"""``ehr serve`` / ``ehr services``: run the services, in the foreground or in the background of
the local stack (``make run``), and ``ehr seed demo`` for demo data a newcomer can look at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from libs.config import get_settings

console = Console()
serve = typer.Typer(help="Run one service in the foreground.", no_args_is_help=True)
services = typer.Typer(help="The services of the local stack, in the background.",
                       no_args_is_help=True)

# name -> (ASGI factory, settings field with its port)
SERVICES = {"consent": ("services.consent.app:create_app", "consent_port"),
            "journal": ("services.journal.app:create_app", "journal_port"),
            "medication": ("services.medication.app:create_app", "medication_port")}


def _port(name: str) -> int:
    return getattr(get_settings(), SERVICES[name][1])


def _files(name: str) -> tuple[Path, Path]:
    base = get_settings().local_dir / "dev" / "services"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"{name}.pid", base / f"{name}.log"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _serve(name: str, help_text: str) -> None:
    def run(host: str = "127.0.0.1",
            port: Annotated[int | None, typer.Option(
                help="default: EHR_<SERVICE>_PORT")] = None) -> None:
        import uvicorn  # noqa: PLC0415

        uvicorn.run(SERVICES[name][0], factory=True, host=host, port=port or _port(name),
                    log_level="info", access_log=False)

    serve.command(name, help=help_text)(run)


_serve("consent", "Consent and access: care relations, consents, blocks, emergency access, "
                  "access log.")
_serve("journal", "The journal: patients, episodes, decisions, notes, vital signs, CAVE, "
                  "care plans, tasks, worklists, FHIR.")
_serve("medication", "The medication list: prescriptions, doses given, reconciliation, "
                     "decision support, the drug catalogue, FHIR.")


@services.command("start")
def services_start(timeout_s: float = 90) -> None:
    """Start every service in the background (logs under .local/dev/services)."""
    for name in SERVICES:
        pid_file, log = _files(name)
        if _alive(pid_file):
            console.print(f"[green]●[/] {name} already running")
            continue
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from libs.cli.main import app; app()", "serve", name],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        pid_file.write_text(str(proc.pid))
        url = f"http://127.0.0.1:{_port(name)}/health"
        with console.status(f"starting {name}"):
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    console.print(f"[bold red]error:[/] {name} exited; see {log}")
                    raise typer.Exit(1)
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    console.print(f"[bold red]error:[/] {name} did not become ready; see {log}")
                    raise typer.Exit(1)
                time.sleep(0.3)
        console.print(f"[green]✓[/] {name} on http://127.0.0.1:{_port(name)} "
                      f"(API docs: /docs)")


@services.command("stop")
def services_stop() -> None:
    for name in SERVICES:
        pid_file, _ = _files(name)
        pid = _alive(pid_file)
        if pid:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if _alive(pid_file) is None:
                    break
                time.sleep(0.1)
            console.print(f"[green]✓[/] {name} stopped")
        pid_file.unlink(missing_ok=True)


@services.command("status")
def services_status() -> None:
    table = Table("service", "state", "url")
    for name in SERVICES:
        pid = _alive(_files(name)[0])
        table.add_row(name, f"running (pid {pid})" if pid else "stopped",
                      f"http://127.0.0.1:{_port(name)}")
    console.print(table)
