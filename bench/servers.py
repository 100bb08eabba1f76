"""The processes under test of the service benchmarks, each started by ``bench/loadgen.py``'s
``start_server``: a service as deployed (journal, consent, medication, welfare), which is two
processes, ``python -m bench.servers serve <mode> <config>`` (the API under uvicorn, access
logger and telemetry in it, as ``ehr run api``) and ``python -m bench.servers background
<mode> <config>`` (its outbox relay and projections, as the chart runs them beside the API);
or a raw baseline (FastAPI + an asyncpg pool, the same routes without the platform), one
process."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from bench.util import pooled_app
from libs.config import Settings
from libs.kernel.heap import settle_heap
from libs.kernel.loop import run_on_uvloop


class NoteIn(BaseModel):  # the baseline's body (module level: FastAPI resolves it by name)
    kind: str = Field(max_length=40)
    text: str = Field(min_length=1, max_length=20000)


def journal_raw(url: str, schema: str):
    """The journal's baseline: the same two routes without the platform."""
    from fastapi.responses import Response

    app, state = pooled_app(url, schema)

    @app.post("/patients/{patient_id}/notes", status_code=201)
    async def write_note(patient_id: UUID, body: NoteIn, sign: bool = False) -> dict:
        note_id, now = uuid4(), datetime.now(UTC).isoformat()
        doc = {"note_id": str(note_id), "patient_id": str(patient_id), "kind": body.kind,
               "text": body.text, "status": "signed" if sign else "draft", "drafted_at": now,
               "signed_at": now if sign else None}
        await state["pool"].execute(
            "INSERT INTO notes (note_id, patient_id, doc) VALUES ($1, $2, $3::jsonb)",
            note_id, patient_id, json.dumps(doc))
        return {"note_id": str(note_id)}

    @app.get("/patients/{patient_id}", response_model=None)
    async def read_record(patient_id: UUID):
        doc = await state["pool"].fetchval(
            "SELECT doc::text FROM records WHERE patient_id = $1", patient_id)
        if doc is None:
            return Response(status_code=404)
        return Response(doc, media_type="application/json")

    return app


class DoseBody(BaseModel):  # the baseline's body (module level: FastAPI resolves it by name)
    amount: float
    unit: str = Field(max_length=20)
    route: str = Field(default="oral", max_length=40)
    times_per_day: int | None = None
    as_needed: bool = False


class OrderBody(BaseModel):
    product_id: str = Field(max_length=100)
    dose: DoseBody
    indication: str | None = Field(default=None, max_length=2000)
    override_reason: str | None = Field(default=None, max_length=2000)


def medication_raw(url: str, schema: str):
    """The medication service's baseline: the same two routes without the platform."""
    from fastapi import Header
    from fastapi.responses import JSONResponse, Response

    app, state = pooled_app(url, schema)

    @app.get("/patients/{patient_id}/medication-list", response_model=None)
    async def read_list(patient_id: UUID):
        row = await state["pool"].fetchrow(
            "SELECT version, current FROM lists WHERE patient_id = $1", patient_id)
        if row is None:
            return Response(status_code=404)
        return Response(row[1], media_type="application/json",
                        headers={"ETag": f'W/"{row[0]}"', "Cache-Control": "no-store"})

    @app.post("/patients/{patient_id}/medication-list/prescriptions", response_model=None)
    async def order(patient_id: UUID, body: OrderBody,
                    if_match: str | None = Header(default=None, alias="If-Match")):
        raw = (if_match or "").strip().removeprefix("W/").strip('"')
        if not raw.isdigit():
            return JSONResponse({"detail": "If-Match"}, status_code=428)
        entry_id = uuid4()
        doc = {"entry_id": str(entry_id), "patient_id": str(patient_id),
               "recorded_at": datetime.now(UTC).isoformat()} | body.model_dump()
        version = await state["pool"].fetchval("""
            WITH bumped AS (UPDATE lists SET version = version + 1
                             WHERE patient_id = $1 AND version = $2 RETURNING version),
                 ins AS (INSERT INTO orders (order_id, patient_id, doc)
                         SELECT $3, $1, $4::jsonb FROM bumped)
            SELECT version FROM bumped""", patient_id, int(raw), entry_id, json.dumps(doc))
        if version is None:
            return JSONResponse({"detail": "stale"}, status_code=412)
        return JSONResponse({"version": version, "warnings": [], "entry_id": str(entry_id)},
                            status_code=201, headers={"ETag": f'W/"{version}"'})

    return app


def fhir_raw(url: str, schema: str):
    """The FHIR benchmark's floor (``bench/fhir/floor.py``)."""
    from bench.fhir.floor import floor_app   # it starts servers through bench.loadgen
    return floor_app(url, schema)


RAW = {"journal-raw": journal_raw, "medication-raw": medication_raw, "fhir-raw": fhir_raw}
BACKGROUND_READY = "BACKGROUND READY"   # the background process's line on stderr once it runs


def _service(mode: str):
    """(create_app, manifest, settings class) of one of our services."""
    if mode == "journal":
        from services.journal import app, manifest, settings
        return app.create_app, manifest.MANIFEST, settings.JournalSettings
    if mode == "consent":
        from services.consent import app, manifest, settings
        return app.create_app, manifest.MANIFEST, settings.ConsentSettings
    if mode == "welfare":
        from services.welfare import app, manifest, settings
        return app.create_app, manifest.MANIFEST, settings.WelfareSettings
    from services.medication import app, manifest, settings
    return app.create_app, manifest.MANIFEST, settings.MedicationSettings


def _settings(c: dict) -> Settings:
    return Settings(database_url=c["url"], kafka_bootstrap_servers=c["bootstrap"],
                    environment="test", dev_key_path=Path(c["key"]), consistency_wait_s=30,
                    token_max_lifetime_s=6 * 3600)   # the run's tokens live as long as it


API_WORKERS_ENV = "BENCH_API_WORKERS"   # our APIs' processes (default 1, as the chart's pods)
NO_ACCESS_LOG_ENV = "BENCH_NO_ACCESS_LOG"   # "1": a diagnosis, never a figure to report as ours


class NoLog:
    """An access logger that writes nothing (the access benchmark's baseline, and the
    diagnosis ``BENCH_NO_ACCESS_LOG=1``: what a request costs without its log entry)."""

    async def log(self, entry, patient_id) -> None:
        return None


def without_access_log() -> bool:
    """Whether our APIs run without their access log in this run (``BENCH_NO_ACCESS_LOG``)."""
    import os
    return os.environ.get(NO_ACCESS_LOG_ENV) == "1"


def access_log_setting() -> str:
    """What a run's settings say about our APIs' access log."""
    return f"OFF ({NO_ACCESS_LOG_ENV}=1: a diagnosis)" if without_access_log() else "on"


def unlogged(app):
    """``app`` with ``NoLog`` in place of its access logger once its lifespan has started."""
    import contextlib

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            a.state.access.logger = NoLog()
            yield state
    app.router.lifespan_context = lifespan
    return app


def api_workers() -> int:
    """How many processes serve each of our APIs in this run (``BENCH_API_WORKERS``)."""
    import os
    return max(1, int(os.environ.get(API_WORKERS_ENV) or 1))


def _api(mode: str, c: dict):
    from libs.web.service import Options
    app = _service(mode)[0](_settings(c), Options(schema=c["schema"], topic_names=c["topics"],
                                                  background=False))
    return unlogged(app) if without_access_log() else app


def _one_of_several(mode: str, raw_config: str) -> None:
    """One of the API's processes, on its own listening socket bound with ``SO_REUSEPORT``:
    the kernel spreads new connections over the processes by their addresses, where one shared
    socket lets whichever process accepts first take a burst of keep-alive connections (two
    uvicorn workers on one socket served the journal benchmark's reads slower than one process,
    the machine a quarter idle: bench/RESULTS.md). It listens once its app is up."""
    import ctypes
    import signal
    import socket

    import uvicorn

    from libs.web.one_write import OneWriteHttp

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG: it goes with its parent
    c = json.loads(raw_config)
    app = _api(mode, c)
    settle_heap()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", c["port"]))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                  http=OneWriteHttp)).run(sockets=[sock])


def _several(mode: str, raw_config: str, n: int) -> None:
    """``n`` API processes on one port (children of this one, which only waits for them and
    passes SIGTERM on; killed, its children get SIGTERM from the kernel: PR_SET_PDEATHSIG)."""
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_one_of_several, args=(mode, raw_config)) for _ in range(n)]
    for p in procs:
        p.start()
    signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in procs])
    for p in procs:
        p.join()


def serve(mode: str, raw_config: str) -> None:
    import uvicorn

    from libs.web.one_write import OneWriteHttp

    c = json.loads(raw_config)
    if mode not in RAW and api_workers() > 1:
        _several(mode, raw_config, api_workers())
        return
    app = RAW[mode](c["url"], c["schema"]) if mode in RAW else _api(mode, c)
    settle_heap()   # as `ehr run api` does, for ours and the raw baseline alike
    uvicorn.run(app, host="127.0.0.1", port=c["port"], log_level="warning", access_log=False,
                http=OneWriteHttp if mode not in RAW else "auto")


def background(mode: str, raw_config: str) -> None:
    """The outbox relay and the projections of one of our services, in their own process,
    until SIGTERM (started once the API has migrated the schema)."""
    import asyncio
    import signal

    from libs.web.service import Options, ServiceRuntime
    c = json.loads(raw_config)
    _, manifest, settings_class = _service(mode)
    s = settings_class.for_service(_settings(c))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with ServiceRuntime(s, Options(schema=c["schema"], topic_names=c["topics"]),
                                  manifest):
            settle_heap()
            print(BACKGROUND_READY, file=sys.stderr, flush=True)
            await stop.wait()

    run_on_uvloop(main())   # as `ehr run relay` / `ehr run projections` (libs/kernel/loop.py)


if __name__ == "__main__" and sys.argv[1:2] in (["serve"], ["background"]):
    {"serve": serve, "background": background}[sys.argv[1]](*sys.argv[2:])
