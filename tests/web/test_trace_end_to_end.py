"""One trace from the HTTP request through the outbox, Kafka and the projection; read your
writes over HTTP; and no national id number in Kafka headers, spans or logs.

Real PostgreSQL and Kafka. The bank events' topic is fixed at ``bank.events``, so this test
uses that exact topic (created idempotently), its own schema, and only looks at its own events.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import Depends, FastAPI, HTTPException, Response
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from sqlalchemy import text

from libs.config import Settings
from libs.events.consistency import HEADER, ConsistencyToken
from libs.events.envelope import Actor, new_event_id
from libs.events.kafka_admin import admin_client, apply_topics
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from libs.events.topics import TopicSpec, all_topics
from libs.telemetry import MASK, NATIVE_TELEMETRY_OFF, setup_telemetry, shutdown
from libs.web import consistent_read, install_error_handlers, set_consistency_token
from tests.support.bank import AccountOpened, BalanceProjection, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS

FNR = "01017012345"
TOPIC = "bank.events"
NURSE = Actor(kind="practitioner", id="HPR-9144889", organisation="974600951")


class OpenAccount(BaseModel):
    name: str
    national_id: str


def make_app(engine) -> FastAPI:
    app = FastAPI(telemetry=NATIVE_TELEMETRY_OFF)
    install_error_handlers(app)
    store = EventStore(engine, BANK_EVENTS)
    log = logging.getLogger("tests.web.e2e")

    @app.post("/accounts", status_code=201)
    async def open_account(body: OpenAccount, response: Response):
        account = uuid.uuid4()
        # registration is where a national id may live: in the event's data, nowhere else
        result = await store.append(
            stream_of(account), 0, [AccountOpened(owner=f"{body.name} {body.national_id}")],
            EventContext(patient_id=uuid.uuid4(), actor=NURSE, purpose="registration"))
        log.info("opened account %s for %s (%s)", account, body.name, body.national_id)
        set_consistency_token(response, result)
        return {"id": str(account)}

    async def read(account: uuid.UUID) -> dict:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT owner, balance FROM bank_balances WHERE stream_id = :s"),
                {"s": stream_of(account)})).first()
        if row is None:
            raise HTTPException(404, "no such account")
        return {"owner": row.owner, "balance": row.balance}

    @app.get("/accounts/{account}")
    async def get_account(account: uuid.UUID,
                          _=Depends(consistent_read("bank_balances", lambda: engine, wait_s=30))):
        return await read(account)

    @app.get("/impatient/accounts/{account}")
    async def get_account_impatiently(
            account: uuid.UUID,
            _=Depends(consistent_read("bank_balances", lambda: engine, wait_s=0.3))):
        return await read(account)

    return app


async def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_one_trace_from_http_through_kafka_to_the_projection(
        engine, database_url, schema, kafka_bootstrap):
    await apply_topics(kafka_bootstrap, all_topics((TopicSpec(TOPIC, 3, "test"),)))
    spans, logs = InMemorySpanExporter(), io.StringIO()
    app = make_app(engine)
    setup_telemetry(Settings(otel_exporter="none", log_json=True), "e2e-test", app=app,
                    engine=engine, span_exporters=[spans], log_stream=logs)

    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    runner = ProjectionRunner(BalanceProjection(topic=TOPIC), engine, kafka_bootstrap, registry=BANK_EVENTS)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None,
                             enable_auto_commit=False)
    relay_task = runner_task = None
    try:
        relay_task = asyncio.create_task(relay.run())
        await asyncio.wait_for(runner.start(), 60)
        # earlier runs left events on the shared topic: apply them first, so this test's
        # event is alone in its batch and the batch span's parent is this test's trace
        await asyncio.wait_for(runner.run(until_caught_up=True), 120)
        runner_task = asyncio.create_task(runner.run())
        await probe.start()
        admin = await admin_client(kafka_bootstrap)
        try:
            [desc] = await admin.describe_topics([TOPIC])
        finally:
            await admin.close()
        parts = [TopicPartition(TOPIC, p["partition"]) for p in desc["partitions"]]
        probe.assign(parts)
        for tp, offset in (await probe.end_offsets(parts)).items():
            probe.seek(tp, offset)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=60) as client:
            # a client that continues its own trace, and (carelessly) puts a national id in
            # its tracestate: the trace continues, the tracestate stops at the edge
            client_trace_id = uuid.uuid4().hex
            traceparent = f"00-{client_trace_id}-b7ad6b7169203331-01"
            r = await client.post("/accounts", json={"name": "Kari Nordmann",
                                                     "national_id": FNR},
                                  headers={"traceparent": traceparent,
                                           "tracestate": f"client=ok,fnr={FNR}"})
            assert r.status_code == 201, r.text
            account = r.json()["id"]
            token = r.headers[HEADER]
            event_id = ConsistencyToken.decode(token).event_id

            # read your writes: the read waits until the projection has applied the write
            r = await client.get(f"/accounts/{account}", headers={HEADER: token})
            assert r.status_code == 200, r.text
            assert r.json() == {"owner": f"Kari Nordmann {FNR}", "balance": 0}

            # a token whose event is never applied: 503 OperationOutcome after the short wait
            never = ConsistencyToken(new_event_id()).encode()
            r = await asyncio.wait_for(client.get(f"/impatient/accounts/{account}",
                                                  params={"consistency_token": never}), 30)
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.headers["content-type"].startswith("application/fhir+json")
            body = r.json()
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["code"] == "transient"

            # a caller whose trace was not sampled (once the first write is applied, so that
            # its batch's span stays the first's): nothing recorded on the way, not even the
            # append's or the publish's span, but its trace id still goes with the event
            unsampled_trace_id = uuid.uuid4().hex
            r = await client.post("/accounts", json={"name": "Ola", "national_id": FNR},
                                  headers={"traceparent":
                                           f"00-{unsampled_trace_id}-b7ad6b7169203332-00"})
            assert r.status_code == 201, r.text
            unsampled_event = ConsistencyToken.decode(r.headers[HEADER]).event_id

        # the Kafka record carries the trace context and nothing else in its headers
        seen: dict[str, object] = {}

        async def both_records():
            batch = await probe.getmany(timeout_ms=200)
            for rec in (r for recs in batch.values() for r in recs):
                seen[json.loads(rec.value)["event_id"]] = rec
            return {str(event_id), str(unsampled_event)} <= seen.keys()

        await wait_for(both_records, 30, "both events on bank.events")
        record = seen[str(event_id)]
        unsampled = dict((k, v.decode()) for k, v in seen[str(unsampled_event)].headers)
        assert unsampled["traceparent"].split("-")[1::2] == [unsampled_trace_id, "00"]
        # as the write left it: no publish span was started in between
        assert unsampled["traceparent"] == json.loads(
            seen[str(unsampled_event)].value)["traceparent"]
        assert not [s for s in spans.get_finished_spans()
                    if trace.format_trace_id(s.context.trace_id) == unsampled_trace_id]
        header_names = {k for k, _ in record.headers}
        assert "traceparent" in header_names and header_names <= {"traceparent", "tracestate"}
        assert all(FNR not in v.decode() for _, v in record.headers)
        assert header_names == {"traceparent"}, "the client's tracestate carried a national id"
        assert json.loads(record.value)["traceparent"].split("-")[1] == client_trace_id
        assert FNR.encode() not in (record.key or b"")

        # one trace: HTTP server span -> relay publish span -> projection apply span
        finished = spans.get_finished_spans()
        [server] = [s for s in finished if s.kind == trace.SpanKind.SERVER
                    and s.name == "POST /accounts"]
        trace_id = server.context.trace_id
        assert trace.format_trace_id(trace_id) == client_trace_id
        in_trace = [s for s in finished if s.context.trace_id == trace_id]
        [publish] = [s for s in in_trace if s.name == f"{TOPIC} publish"]
        [apply] = [s for s in in_trace if s.name == "projection bank_balances apply"]
        assert publish.kind == trace.SpanKind.PRODUCER
        assert publish.parent.span_id == server.context.span_id
        assert apply.parent.span_id == publish.context.span_id
        assert apply.attributes["ehr.events"] == 1
        sql = [s for s in in_trace if s.parent and s.parent.span_id == server.context.span_id
               and s.kind == trace.SpanKind.CLIENT]
        assert sql, "the append's database work is a span of the request"
        record_tp = trace.format_trace_id(trace_id)
        assert dict((k, v.decode()) for k, v in record.headers)["traceparent"].split("-")[1] \
            == record_tp

        # the national id reached no span and no log line; the log line joins the trace
        exported = json.dumps([json.loads(s.to_json()) for s in finished])
        assert FNR not in exported
        lines = [json.loads(line) for line in logs.getvalue().splitlines()]
        opened, unsampled_line = [line for line in lines
                                  if line["message"].startswith("opened account")]
        assert unsampled_line["trace_id"] == unsampled_trace_id   # not sampled, still named
        assert opened["message"].endswith(f"for Kari Nordmann ({MASK})")
        assert opened["trace_id"] == record_tp
        assert FNR not in logs.getvalue()
    finally:
        relay.stop()
        await runner.stop()
        await probe.stop()
        for task in (relay_task, runner_task):
            if task is not None:
                await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
        shutdown()
