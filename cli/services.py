"""``ehr serve`` / ``ehr services``: run the services of the manifests, in the foreground or in
the background of the local stack (``make run``)."""



import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.table import Table

from cli.console import console
from libs.config import get_settings
from libs.web.manifest import Manifest


def port_of(manifest: Manifest) -> int:
    """The service's port, from its own settings (``EHR_<SERVICE>_PORT``)."""
    return getattr(manifest.settings(), manifest.port)


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


def serve_app(manifests: Sequence[Manifest]) -> typer.Typer:
    serve = typer.Typer(help="Run one service in the foreground.", no_args_is_help=True)
    for manifest in manifests:
        if manifest.create_app is not None:
            serve.command(manifest.name, help=manifest.title)(_server(manifest))
    return serve


def _server(manifest: Manifest):
    def run(host: str = "127.0.0.1",
            port: Annotated[int | None, typer.Option(
                help=f"default: EHR_{manifest.name.upper()}_PORT")] = None) -> None:
        import uvicorn  # noqa: PLC0415

        uvicorn.run(manifest.create_app, factory=True, host=host,
                    port=port or port_of(manifest), log_level="info", access_log=False)

    return run


def services_app(manifests: Sequence[Manifest]) -> typer.Typer:
    services = typer.Typer(help="The services of the local stack, in the background.",
                           no_args_is_help=True)
    served = [m for m in manifests if m.create_app is not None]

    @services.command("start")
    def services_start(timeout_s: float = 90) -> None:
        """Start every service in the background (logs under .local/dev/services)."""
        for m in served:
            _start(m, timeout_s)

    @services.command("stop")
    def services_stop() -> None:
        for m in served:
            pid_file, _ = _files(m.name)
            pid = _alive(pid_file)
            if pid:
                os.killpg(pid, signal.SIGTERM)
                for _ in range(100):
                    if _alive(pid_file) is None:
                        break
                    time.sleep(0.1)
                console.print(f"[green]✓[/] {m.name} stopped")
            pid_file.unlink(missing_ok=True)

    @services.command("status")
    def services_status() -> None:
        table = Table("service", "state", "url")
        for m in served:
            pid = _alive(_files(m.name)[0])
            table.add_row(m.name, f"running (pid {pid})" if pid else "stopped",
                          f"http://127.0.0.1:{port_of(m)}")
        console.print(table)

    return services


def _start(m: Manifest, timeout_s: float) -> None:
    pid_file, log = _files(m.name)
    if _alive(pid_file):
        console.print(f"[green]●[/] {m.name} already running")
        return
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", m.name],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    url = f"http://127.0.0.1:{port_of(m)}/health"
    with console.status(f"starting {m.name}"):
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                console.print(f"[bold red]error:[/] {m.name} exited; see {log}")
                raise typer.Exit(1)
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                console.print(f"[bold red]error:[/] {m.name} did not become ready; see {log}")
                raise typer.Exit(1)
            time.sleep(0.3)
    console.print(f"[green]✓[/] {m.name} on http://127.0.0.1:{port_of(m)} (API docs: /docs)")
