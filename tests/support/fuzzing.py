"""Fuzzing a service's OpenAPI document with schemathesis against the real stack: fresh schemas
and topics, services served by uvicorn on free ports (threads of the test process), and the
pieces that aim a case at a patient the caller may see.

A fuzz test splits its cases in three by a hash of the path and query parameters (``third``):
no token, a token on whatever patient the fuzzer made up, and a token on a patient the caller
has a care relation with (``aim_at``), so a third of the cases pass the access guard and reach
the handlers.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from libs.devstack.procs import free_port
from libs.events.kafka_admin import apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec, all_topics

MADE_UP_CONTEXT = ("If-Match", "X-Consistency-Token", "X-Acting-For")


@dataclass
class Served:
    server: uvicorn.Server
    thread: threading.Thread
    url: str


def fresh_stack(database_url: str, kafka_bootstrap: str, topics: Iterable[str],
                services: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Fresh topics (``{"consent.events": "consent.events.fz123", ...}``) and one migrated
    schema per service (``{"consent": "t_fz123_consent", ...}``)."""
    unique = f"fz{int(time.time() * 1000) % 10**9}"
    names = {t: f"{t}.{unique}" for t in topics}
    schemas = {name: f"t_{unique}_{name}" for name in services}
    asyncio.run(_prepare(database_url, kafka_bootstrap, schemas.values(), names))
    return names, schemas


async def _prepare(database_url, kafka_bootstrap, schemas, topics):
    for schema in schemas:
        await run_migrations(database_url, schema)
    await apply_topics(kafka_bootstrap, all_topics(tuple(
        TopicSpec(name, 3, "fuzz") for name in topics.values())))


def serve(app) -> Served:
    """The app on a free port, in a thread; returns once it accepts requests."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "a service did not start"
        time.sleep(0.05)
    return Served(srv, thread, f"http://127.0.0.1:{port}")


@contextmanager
def serving(apps: Iterable) -> Iterator[list[Served]]:
    """Serve the apps in order; stop them in reverse."""
    servers: list[Served] = []
    try:
        for app in apps:
            servers.append(serve(app))
        yield servers
    finally:
        for s in reversed(servers):
            s.server.should_exit = True
            s.thread.join(timeout=30)


def until_ok(request: Callable[[], httpx.Response], what: str, timeout_s: float = 60) -> None:
    """Repeat a request until it is answered 200 (e.g. until a care relation has reached the
    service)."""
    deadline = time.monotonic() + timeout_s
    while (r := request()).status_code != 200:
        assert time.monotonic() < deadline, f"{what}: {r.status_code} {r.text}"
        time.sleep(0.2)


def third(case, *more: Any) -> int:
    """0, 1 or 2, the same for the same path and query parameters (and ``more``, e.g. the body,
    so that an operation without parameters is split too); derandomised runs repeat."""
    return zlib.crc32(repr((case.path_parameters, case.query, *more)).encode()) % 3


def aim_at(case, patient: str) -> None:
    """The case's patient (path ``patient_id``, query ``patient``) becomes ``patient``;
    without the made-up record version, read token and proxy, so the body is what counts."""
    if case.path_parameters and "patient_id" in case.path_parameters:
        case.path_parameters["patient_id"] = patient
    if case.query and "patient" in case.query:
        case.query["patient"] = patient
    for key in MADE_UP_CONTEXT:
        (case.headers or {}).pop(key, None)
    (case.query or {}).pop("consistency_token", None)


def an_operation_outcome(ctx, response, case) -> None:
    """A schemathesis check: every error (4xx, 5xx) is a FHIR OperationOutcome with an
    issue."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body: "
                             f"{response.text[:200]!r}") from None
    assert isinstance(body, dict) and body.get("resourceType") == "OperationOutcome", (
        f"{response.status_code} is not an OperationOutcome: {response.text[:300]}")
    assert body.get("issue"), f"an OperationOutcome without issues: {response.text[:300]}"
    return None
