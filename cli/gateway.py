"""``ehr gateway``: one FHIR base for the whole record, a local nginx in front of the services.

``config`` writes ``.local/gateway/nginx.conf`` from the one routing map (``cli/fhir_routes.py``:
resource type -> owning service) and the services' CapabilityStatements (merged into the
gateway's ``/fhir/metadata``); ``start`` writes it and runs nginx with that folder as its prefix
(pid, logs, temporary files all under it); ``stop`` ends it. ``make run`` starts it after the
services; the per-service bases keep working beside it.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.console import console, fail, rel
from cli.fhir_routes import fhir_routes_async
from cli.services import port_of
from libs.config import get_settings
from libs.kernel.time import OSLO
from libs.web.gateway import METADATA, merged_capability, nginx_conf, transaction_owner
from libs.web.manifest import Manifest
from libs.web.service import Options

CONF = "nginx.conf"
Port = Annotated[int, typer.Option(envvar="EHR_GATEWAY_PORT", help="where it listens")]


def nginx_binary() -> str:
    """Debian's nginx (``make run`` and ``make test`` install it when missing)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        raise FileNotFoundError("nginx is not installed (make run installs Debian's nginx-light)")
    return found


async def _statement(manifest: Manifest) -> dict | None:
    """The service's own CapabilityStatement, asked in-process (no database, no broker)."""
    app = manifest.create_app(options=Options(telemetry=False, background=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://service") as client:
        answer = await client.get("/fhir/metadata")
    if answer.status_code == 404:   # an API without a FHIR interface
        return None
    answer.raise_for_status()
    return answer.json()


async def render(manifests: Sequence[Manifest], upstreams: Mapping[str, str], *,
                 listen: str, base_url: str) -> tuple[str, dict]:
    """The gateway's nginx.conf for ``manifests`` and its merged CapabilityStatement;
    ``upstreams``: service -> ``host:port``."""
    routes = await fhir_routes_async(manifests)
    statements = {m.name: cs for m in manifests if m.create_app is not None
                  and (cs := await _statement(m)) is not None}
    metadata = merged_capability(statements, routes, base_url=base_url,
                                 date=datetime.now(OSLO).date().isoformat())
    conf = nginx_conf(routes, upstreams, listen=listen, user=getpass.getuser(),
                      transaction=transaction_owner(statements))
    return conf, metadata


def write(prefix: Path, rendered: tuple[str, dict]) -> Path:
    """The config and the CapabilityStatement under ``prefix``; returns the config's path."""
    conf, metadata = rendered
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / METADATA).write_text(json.dumps(metadata, indent=1, ensure_ascii=False))
    path = prefix / CONF
    path.write_text(conf)
    return path


def _nginx(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([nginx_binary(), "-p", f"{prefix}/", "-c", CONF,
                           "-e", "logs/error.log", *args],
                          capture_output=True, text=True, timeout=30)


def running(prefix: Path) -> int | None:
    try:
        pid = int((prefix / "nginx.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start(prefix: Path) -> None:
    """Run (or reload) nginx on the config under ``prefix``; errors name nginx's own words."""
    checked = _nginx(prefix, "-t")
    if checked.returncode != 0:
        raise RuntimeError(checked.stderr.strip())
    done = _nginx(prefix, "-s", "reload") if running(prefix) else _nginx(prefix)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    deadline = time.monotonic() + 10
    while running(prefix) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start; see {prefix / 'logs' / 'error.log'}")
        time.sleep(0.05)


def stop(prefix: Path) -> bool:
    """Stop nginx gracefully; False when it was not running."""
    pid = running(prefix)
    if pid is None:
        return False
    _nginx(prefix, "-s", "quit")
    deadline = time.monotonic() + 10
    while running(prefix) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def gateway_app(manifests: Sequence[Manifest]) -> typer.Typer:
    gateway = typer.Typer(help="One FHIR base for the record: nginx in front of the services.",
                          no_args_is_help=True)

    def configure(port: int, host: str) -> tuple[Path, str]:
        prefix = get_settings().local_dir / "gateway"
        upstreams = {m.name: f"127.0.0.1:{port_of(m)}" for m in manifests
                     if m.create_app is not None}
        base = f"http://{host}:{port}/fhir"
        rendered = asyncio.run(render(manifests, upstreams, listen=f"{host}:{port}",
                                      base_url=base))
        return write(prefix, rendered), base

    @gateway.command("config")
    def gateway_config(port: Port = 8000, host: str = "127.0.0.1") -> None:
        """Write .local/gateway/nginx.conf from the FHIR routing map."""
        path, _ = configure(port, host)
        console.print(f"[green]✓[/] wrote {rel(path)}")

    @gateway.command("start")
    def gateway_start(port: Port = 8000, host: str = "127.0.0.1") -> None:
        """Write the config and start nginx (or reload it when it runs)."""
        path, base = configure(port, host)
        try:
            start(path.parent)
        except (RuntimeError, FileNotFoundError) as e:
            fail(f"the gateway did not start: {e}")
        console.print(f"[green]✓[/] one FHIR base for the record: {base} "
                      f"(metadata: {base}/metadata; logs under {rel(path.parent / 'logs')})")

    @gateway.command("stop")
    def gateway_stop() -> None:
        """Stop the gateway's nginx."""
        stopped = stop(get_settings().local_dir / "gateway")
        console.print("[green]✓[/] gateway stopped" if stopped else "gateway was not running")

    return gateway
