"""The processes under test of ``bench/citizen.py``, each started as ``python -m
bench.citizen_servers serve <mode> <config>``: the citizen service as the Helm chart deploys it
(the HTTP API in ``workers`` uvicorn processes, each with its access logger; the relay, the
projections and the notifier in a process of their own: ``citizen-worker``) or the raw baseline
page, a FastAPI app with an
asyncpg pool that reads the same rows from the same read-model tables (``citizen_items``,
``citizen_medicines``, ``citizen_medicine_changes``, in the citizen service's schema) and renders
them as HTML, without the platform (no session, no token, no access decision, no access log, no
template engine)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import sys
from pathlib import Path
from uuid import UUID

from bench.infra import Deadline
from bench.util import Child, pooled_app
from libs.config import REPO_ROOT
from libs.devstack.procs import port_open
from libs.kernel.heap import settle_heap


def _rows(docs: list[str], keys: tuple[str, ...]) -> str:
    out = []
    for raw in docs:
        doc = json.loads(raw)
        cells = "".join(f"<td>{html.escape(str(doc.get(k, '')))}</td>" for k in keys)
        out.append(f"<tr>{cells}</tr>")
    return "".join(out)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>{title}'
            f"</title></head><body><main><h1>{title}</h1>{body}</main></body></html>")


def citizen_raw(url: str, schema: str):
    """The baseline: the same two pages' rows, by patient id, rendered plainly."""
    from fastapi.responses import HTMLResponse

    from services.citizen.projections.record import SHOWN

    app, state = pooled_app(url, schema)

    @app.get("/raw/record/{patient_id}")
    async def record(patient_id: UUID) -> HTMLResponse:
        docs = await state["pool"].fetch(
            f"SELECT kind, doc::text FROM citizen_items WHERE patient_id = $1 AND {SHOWN} "
            "ORDER BY at", patient_id)
        kinds: dict[str, list[str]] = {}
        for kind, doc in docs:
            kinds.setdefault(kind, []).append(doc)
        body = "".join(f"<h2>{html.escape(k)}</h2><table>"
                       f"{_rows(v, ('at', 'text', 'code', 'value', 'status', 'substance'))}"
                       "</table>" for k, v in kinds.items())
        return HTMLResponse(_page("Min journal", body))

    @app.get("/raw/medicines/{patient_id}")
    async def medicines(patient_id: UUID) -> HTMLResponse:
        pool = state["pool"]
        entries = await pool.fetch("SELECT doc::text FROM citizen_medicines WHERE patient_id = $1"
                                   " ORDER BY doc->'drug'->>'name'", patient_id)
        changes = await pool.fetch(
            "SELECT jsonb_build_object('type', type, 'at', at) || doc FROM "
            "citizen_medicine_changes WHERE patient_id = $1 ORDER BY at DESC LIMIT 200",
            patient_id)
        body = (f"<table>{_rows([r[0] for r in entries], ('drug', 'dose', 'status'))}</table>"
                f"<table>{_rows([str(r[0]) for r in changes], ('type', 'at', 'by'))}</table>")
        return HTMLResponse(_page("Mine legemidler", body))

    return app


CONFIG_ENV = "BENCH_CITIZEN_CONFIG"


def _citizen(c: dict, background: bool):
    from libs.web.service import Options
    from services.citizen.app import create_app
    from services.citizen.settings import CitizenSettings
    s = CitizenSettings(
        database_url=c["url"], kafka_bootstrap_servers=c["bootstrap"], environment="test",
        dev_key_path=Path(c["key"]), consistency_wait_s=30, token_max_lifetime_s=6 * 3600,
        citizen_public_url=f"http://localhost:{c['port']}",
        citizen_consent_url=c["consent_url"], citizen_journal_url=c["journal_url"])
    return create_app(s, Options(schema=c["schema"], topic_names=c["topics"],
                                 background=background))


def api_app():
    """The citizen service's HTTP API only (as ``ehr run api``), in each uvicorn worker."""
    app = _citizen(json.loads(os.environ[CONFIG_ENV]), background=False)
    settle_heap()   # as `ehr run api` does
    return app


async def _worker(c: dict) -> None:
    """The rest of the citizen service (as the chart's relay and projections pods): its
    start-up (schema, sign-in tables, directory), the relay, the projections and the notifier,
    without HTTP; READY once started, until SIGTERM."""
    import signal

    app = _citizen(c, background=True)
    async with app.router.lifespan_context(app):
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        await stop.wait()


def serve(mode: str, raw_config: str) -> None:
    import uvicorn

    c = json.loads(raw_config)
    if mode == "citizen-raw":
        raw = citizen_raw(c["url"], c["schema"])
        settle_heap()   # as `ehr run api` does, for ours and the raw baseline alike
        uvicorn.run(raw, host="127.0.0.1", port=c["port"],
                    log_level="warning", access_log=False)
    elif mode == "citizen-worker":
        asyncio.run(_worker(c))
    else:   # uvicorn's supervisor shares one listening socket among the API's workers
        os.environ[CONFIG_ENV] = raw_config
        uvicorn.run("bench.citizen_servers:api_app", factory=True, host="127.0.0.1",
                    port=c["port"], workers=c.get("workers", 1), log_level="warning",
                    access_log=False)


def _spawn(mode: str, config: dict, err, stdout=None):
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.citizen_servers", "serve", mode, json.dumps(config),
        stdout=stdout or err, stderr=err, cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))


async def start_worker(config: dict, log: Path) -> Child:
    """The citizen service's relay, projections and notifier, ready once it says so."""
    child = Child("citizen worker", [], log)
    with open(log, "ab") as err:
        child.proc = await _spawn("citizen-worker", config, err, asyncio.subprocess.PIPE)
    deadline = Deadline(120, "citizen worker start")
    while (line := await asyncio.wait_for(child.proc.stdout.readline(), 120)) != b"READY\n":
        if not line:
            raise RuntimeError(f"the citizen worker exited; see {log}")
        deadline.check()
    return child


async def start(mode: str, config: dict, log: Path) -> Child:
    """The server in its own process (this module's ``serve``), ready once it listens."""
    child = Child(f"{mode} server", [], log)  # for its bounded stop()
    with open(log, "ab") as err:
        child.proc = await _spawn(mode, config, err)
    deadline = Deadline(300, f"{mode} start")
    while not port_open(config["port"]):
        if child.proc.returncode is not None:
            raise RuntimeError(f"the {mode} server exited; see {log}")
        deadline.check()
        await asyncio.sleep(0.1)
    return child


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(*sys.argv[2:])
