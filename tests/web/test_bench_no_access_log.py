"""The benchmarks' diagnosis ``BENCH_NO_ACCESS_LOG=1`` (``bench/servers.py``): our API as
deployed but with an access logger that writes nothing, to measure what the log costs a
request. Only when asked, and said in the run's settings."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from bench.servers import NO_ACCESS_LOG_ENV, NoLog, unlogged, without_access_log


class Writing:
    def __init__(self):
        self.entries = []

    async def log(self, entry, patient_id) -> None:
        self.entries.append((entry, patient_id))


def app_with_logger(logger) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(a):
        a.state.access = SimpleNamespace(logger=logger)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/read")
    async def read():
        await app.state.access.logger.log("entry", "patient")
        return {"ok": True}
    return app


async def read_once(app: FastAPI) -> dict:
    """The app started (its lifespan, as uvicorn runs it) and one request served."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        return (await client.get("/read")).json()


async def test_the_diagnosis_swaps_the_logger_once_the_app_is_up():
    real = Writing()
    app = unlogged(app_with_logger(real))
    assert await read_once(app) == {"ok": True}
    assert isinstance(app.state.access.logger, NoLog) and real.entries == []

    kept = Writing()
    assert await read_once(app_with_logger(kept)) == {"ok": True}   # without it: logged
    assert kept.entries == [("entry", "patient")]


def test_only_when_asked(monkeypatch):
    monkeypatch.delenv(NO_ACCESS_LOG_ENV, raising=False)
    assert not without_access_log()
    monkeypatch.setenv(NO_ACCESS_LOG_ENV, "0")
    assert not without_access_log()
    monkeypatch.setenv(NO_ACCESS_LOG_ENV, "1")
    assert without_access_log()
