"""``ehr serve`` / ``ehr services``: run the services of the manifests, in the foreground or in
the background of the local stack (``make run``).

``ehr services start`` runs each service as the Helm chart deploys it (README, "Process
model"): its HTTP API (``ehr run api``, which only serves), its outbox relay (``ehr run
relay``), its projections (``ehr run projections``, when it has read models) and its faust
stream worker (the manifest's ``stream_worker``), each its own process with its own pid and log
file under ``.local/dev/services``. ``ehr serve <name>`` keeps everything in one process, for
debugging one service in the foreground.

No ``from __future__ import annotations``: typer evaluates the options' annotations, and
``_server``'s help text is built from a local name."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from cli.console import console
from libs.config import get_settings
from libs.kernel.heap import settle_heap
from libs.web.manifest import Manifest

SETTLE_S = 1.5   # a background process still alive this long after its start has started


def port_of(manifest: Manifest) -> int:
    """The service's port, from its own settings (``EHR_<SERVICE>_PORT``)."""
    return getattr(manifest.settings(), manifest.port)


@dataclass(frozen=True)
class Process:
    """One process of a service in the local stack."""

    service: Manifest
    role: str                 # api | relay | projections | worker
    args: tuple[str, ...]     # of ``python -m cli``

    @property
    def name(self) -> str:
        return f"{self.service.name}-{self.role}"


def processes(m: Manifest) -> list[Process]:
    """What the chart runs of ``m``, in the order they start (the API first: it migrates)."""
    out = [Process(m, "api", ("run", "api", m.name, "--host", "127.0.0.1")),
           Process(m, "relay", ("run", "relay", m.name))]
    if m.projection_names():
        out.append(Process(m, "projections", ("run", "projections", m.name)))
    if m.stream_worker:
        out.append(Process(m, "worker", m.stream_worker))
    return out


def _dir() -> Path:
    base = get_settings().local_dir / "dev" / "services"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _files(name: str) -> tuple[Path, Path]:
    return _dir() / f"{name}.pid", _dir() / f"{name}.log"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return None if zombie(pid) else pid


def zombie(pid: int) -> bool:
    """Exited, not yet reaped by its parent (a process that started it and lives on)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def settled(factory: Callable[[], Any]) -> partial:
    """The app factory of a long-running server: once the app is built (its modules imported),
    the start-up heap is frozen (``libs/kernel/heap.py``). ``.args[0]`` is ``factory``."""
    return partial(_build_and_settle, factory)


def _build_and_settle(factory: Callable[[], Any]) -> Any:
    app = factory()
    settle_heap()
    return app


def serve_app(manifests: Sequence[Manifest]) -> typer.Typer:
    serve = typer.Typer(help="Run one service in the foreground, in one process.",
                        no_args_is_help=True)
    for manifest in manifests:
        if manifest.create_app is not None:
            serve.command(manifest.name, help=manifest.title)(_server(manifest))
    return serve


def _server(manifest: Manifest):
    def run(host: str = "127.0.0.1",
            port: Annotated[int | None, typer.Option(
                help=f"default: EHR_{manifest.name.upper()}_PORT")] = None) -> None:
        import uvicorn  # noqa: PLC0415

        from libs.web.one_write import OneWriteHttp  # noqa: PLC0415

        uvicorn.run(settled(manifest.create_app), factory=True, host=host,
                    port=port or port_of(manifest), log_level="info", access_log=False,
                    http=OneWriteHttp)

    return run


Only = Annotated[list[str] | None, typer.Option(
    "--only", help="this service only (repeatable); default: every service")]


def services_app(manifests: Sequence[Manifest]) -> typer.Typer:
    services = typer.Typer(help="The services of the local stack, in the background, one "
                                "process per role as the Helm chart runs them.",
                           no_args_is_help=True)
    served = [m for m in manifests if m.create_app is not None]

    def chosen(only: list[str] | None) -> list[Manifest]:
        unknown = sorted(set(only or ()) - {m.name for m in served})
        if unknown:
            console.print(f"[bold red]error:[/] no service {', '.join(unknown)}; known: "
                          f"{', '.join(m.name for m in served)}")
            raise typer.Exit(2)
        return [m for m in served if not only or m.name in only]

    @services.command("start")
    def services_start(only: Only = None, timeout_s: float = 90) -> None:
        """Start every service's API, relay, projections and stream worker in the background
        (logs under .local/dev/services)."""
        for m in chosen(only):
            for p in processes(m):
                _start(p, timeout_s)

    @services.command("stop")
    def services_stop(only: Only = None) -> None:
        for m in chosen(only):
            for p in reversed(processes(m)):
                _stop(p.name)
            _stop(m.name)   # a stack started before the processes were split
            console.print(f"[green]✓[/] {m.name} stopped")

    @services.command("status")
    def services_status(only: Only = None) -> None:
        table = Table("service", "process", "state", "url")
        for m in chosen(only):
            for p in processes(m):
                pid = _alive(_files(p.name)[0])
                table.add_row(m.name, p.role, f"running (pid {pid})" if pid else "stopped",
                              f"http://127.0.0.1:{port_of(m)}" if p.role == "api" else "")
        console.print(table)

    return services


def _stop(name: str) -> None:
    pid_file, _ = _files(name)
    pid = _alive(pid_file)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if _alive(pid_file) is None:
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def _start(p: Process, timeout_s: float) -> None:
    pid_file, log = _files(p.name)
    if _alive(pid_file):
        console.print(f"[green]●[/] {p.name} already running")
        return
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", *p.args],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    with console.status(f"starting {p.name}"):
        if p.role == "api":
            _until_healthy(p, proc, log, timeout_s)
        else:
            time.sleep(SETTLE_S)
    if proc.poll() is not None:
        console.print(f"[bold red]error:[/] {p.name} exited; see {log}")
        raise typer.Exit(1)
    where = f" on http://127.0.0.1:{port_of(p.service)} (API docs: /docs)" \
        if p.role == "api" else ""
    console.print(f"[green]✓[/] {p.name}{where}")


def _until_healthy(p: Process, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    url = f"http://127.0.0.1:{port_of(p.service)}/health"
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            console.print(f"[bold red]error:[/] {p.name} did not become ready; see {log}")
            raise typer.Exit(1)
        time.sleep(0.3)
