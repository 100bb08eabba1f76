"""AccessLogger and the verifier on real PostgreSQL (and Kafka for the topic): group commit,
two replicas on one chain, durability before ``log`` returns, and tampering found by
``ehr audit verify``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from typer.testing import CliRunner

from libs.audit.log import _HEADS, AccessLogger, entry_for
from libs.audit.verify import verify_db, verify_kafka
from libs.access.model import Action, Basis, Decision, Practitioner, Resource, Role
from cli.main import app
from libs.config import Settings, get_settings
from libs.telemetry import setup_telemetry, shutdown
from libs.events.db import make_engine
from libs.events.relay import OutboxRelay
from tests.support.metrics import CapturingMetricExporter
from tests.support.waiting import eventually

DOC = Practitioner(person_id="sub-1", hpr="1234567", org_parent="974589095",
                   org_child="974589001", roles=frozenset({Role.nurse}))
PERMIT = Decision(permit=True, reason="care_relation", message="ok", basis=Basis.care_relation,
                  decision_ref=uuid.uuid4())


def entry(patient: uuid.UUID, i: int = 0):
    return entry_for(DOC, Action.read, Resource(patient_id=patient), PERMIT, service="journal",
                     resources=[f"Observation/{i}"], purpose="TREAT", now=datetime.now(UTC))


@pytest.fixture(params=[1, 2], ids=["one lane", "two lanes"])   # the default, and more
async def logger(engine, request):
    lg = AccessLogger(engine, "journal", lanes=request.param)
    await lg.start()
    yield lg
    await lg.stop()


def cli(*args: str):
    return CliRunner().invoke(app, ["audit", "verify", *args], catch_exceptions=False)


async def rows(engine, sql: str, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).all()


async def test_concurrent_logs_group_commit_into_contiguous_chains(logger, database_url, schema):
    patients = [uuid.uuid4() for _ in range(5)]
    await asyncio.gather(*(logger.log(entry(patients[i % 5], i), patients[i % 5])
                           for i in range(200)))
    assert logger.batches < 200  # entries waiting together were committed together
    report = await verify_db(database_url, schema)
    assert report.intact and (report.entries, report.chains) == (200, 5)
    versions = await rows(logger.engine, "SELECT stream_id, array_agg(stream_version ORDER BY "
                          "position), array_agg((envelope->'data'->>'seq')::int ORDER BY position)"
                          " FROM events GROUP BY stream_id")
    for _, by_position, seqs in versions:
        assert by_position == seqs == list(range(1, 41))


async def test_operators_see_how_entries_group_and_how_long_a_batch_waited(engine):
    out = CapturingMetricExporter()
    tel = setup_telemetry(Settings(otel_exporter="none"), "test-audit", metric_exporters=[out],
                          log_stream=io.StringIO())
    mine = {"service": "journal"}

    def last(name: str):  # points are cumulative over the process: compare before and after
        tel.force_flush()
        points = [p for p in out.points(name) if dict(p.attributes) == mine]
        return (points[-1].count, points[-1].sum, points[-1].max) if points else (0, 0, 0)

    lg = AccessLogger(engine, "journal")
    await lg.start()
    patients = [uuid.uuid4() for _ in range(4)]
    try:
        sizes0, waits0 = last("ehr.audit.batch.entries"), last("ehr.audit.batch.wait")
        await asyncio.gather(*(lg.log(entry(patients[i % 4], i), patients[i % 4])
                               for i in range(40)))
        sizes, waits = last("ehr.audit.batch.entries"), last("ehr.audit.batch.wait")
    finally:
        await lg.stop()
        shutdown()
    assert sizes[0] - sizes0[0] == waits[0] - waits0[0] == lg.batches < 40
    assert sizes[1] - sizes0[1] == 40   # every entry counted once, in the batch it went in
    assert sizes[2] > 1 and 0 < waits[1] - waits0[1] < 60
    assert not any(str(p) in str(out.batches) for p in patients)


@contextlib.asynccontextmanager
async def running(engine, **kw):
    lg = AccessLogger(engine, "journal", **kw)
    await lg.start()
    try:
        yield lg
    finally:
        await lg.stop()


async def test_two_replicas_write_chains_of_their_own(engine, database_url, schema):
    """Two writers of one service (replicas, API worker processes) take writer slots of their
    own: each chains the patient's entries in its own stream, so neither ever finds its chain
    moved by the other, and the patient's history is both chains, each intact."""
    other = make_engine(database_url, schema)
    a, b = AccessLogger(engine, "journal"), AccessLogger(other, "journal")
    await a.start(), await b.start()
    patient = uuid.uuid4()
    try:
        await a.log(entry(patient), patient)
        await b.log(entry(patient), patient)
        await asyncio.gather(*(lg.log(entry(patient, i), patient)
                               for i in range(50) for lg in (a, b)))
        assert {a.slot, b.slot} == {0, 1}
        assert a.retries + b.retries == 0
    finally:
        await a.stop(), await b.stop()
        await other.dispose()
    report = await verify_db(database_url, schema, patient=patient)
    assert report.intact and (report.entries, report.chains) == (102, 2)
    streams = await rows(engine, "SELECT stream_id, version FROM streams WHERE patient_id = :p "
                                 "ORDER BY stream_id", p=patient)
    assert [tuple(r) for r in streams] == [(f"audit-journal-{patient}", 51),
                                           (f"audit-journal.1-{patient}", 51)]
    chains = await rows(engine, "SELECT DISTINCT envelope->'data'->>'chain' FROM events "
                                "WHERE patient_id = :p ORDER BY 1", p=patient)
    assert [r[0] for r in chains] == [f"journal.1:{patient}", f"journal:{patient}"]


async def test_a_slot_given_up_is_taken_again(engine, database_url, schema):
    """A stopped writer gives its slot back (its lock connection returns to the pool
    unlocked): the next writer continues slot 0's chains instead of opening new ones."""
    patient = uuid.uuid4()
    async with running(engine) as first:
        await first.log(entry(patient), patient)
    async with running(engine) as second:
        await second.log(entry(patient, 1), patient)
        assert second.slot == 0
    report = await verify_db(database_url, schema, patient=patient)
    assert report.intact and (report.entries, report.chains) == (2, 1)


async def _cut_slot_connection(engine, lg: AccessLogger) -> None:
    """What a PostgreSQL failover or restart does to the connection holding the slot."""
    pid = lg._slot_raw.get_server_pid()   # noqa: SLF001 - the connection under test
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    await eventually(lambda: _closed(lg), 10, what="the slot's connection seen closed")


async def _closed(lg: AccessLogger) -> bool:
    return lg._slot_raw is None or lg._slot_raw.is_closed()   # noqa: SLF001


async def test_a_writer_whose_slot_connection_was_lost_takes_its_slot_again(
        engine, database_url, schema):
    patient = uuid.uuid4()
    async with running(engine) as lg:
        await lg.log(entry(patient), patient)
        await _cut_slot_connection(engine, lg)
        await lg.log(entry(patient, 1), patient)   # the slot is held again, the chain goes on
        assert lg.slot == 0 and not await _closed(lg)
        async with running(engine) as other:       # so a new writer finds it taken
            await other.log(entry(patient, 2), patient)
            assert other.slot == 1
    report = await verify_db(database_url, schema, patient=patient)
    assert report.intact and (report.entries, report.chains) == (3, 2)
    assert lg.retries == 0


async def test_a_writer_whose_slot_was_taken_meanwhile_moves_to_a_free_one(
        engine, database_url, schema):
    patient = uuid.uuid4()
    async with running(engine) as a:
        await a.log(entry(patient), patient)
        await _cut_slot_connection(engine, a)
        async with running(engine) as b:   # a new replica starts before a writes again
            await b.log(entry(patient, 1), patient)     # b continues slot 0's chain
            await a.log(entry(patient, 2), patient)     # a writes chains of slot 1 from now on
            await asyncio.gather(*(lg.log(entry(patient, i), patient)
                                   for i in range(3, 23) for lg in (a, b)))
            assert (b.slot, a.slot) == (0, 1)
            assert a.retries == b.retries == 0
    report = await verify_db(database_url, schema, patient=patient)
    assert report.intact and (report.entries, report.chains) == (43, 2)


async def test_two_writers_on_one_chain_keep_it_valid(engine, database_url, schema):
    """More writers than slots (or a slot whose lock connection was lost) share a chain: the
    stream's version decides, the loser re-chains its batch on the new head and retries, and
    operators see the retries counted."""
    out = CapturingMetricExporter()
    tel = setup_telemetry(Settings(otel_exporter="none"), "test-audit", metric_exporters=[out],
                          log_stream=io.StringIO())

    def retried() -> int:
        tel.force_flush()
        points = [p for p in out.points("ehr.audit.batch.retries")
                  if dict(p.attributes) == {"service": "journal"}]
        return points[-1].value if points else 0

    other = make_engine(database_url, schema)
    a, b = (AccessLogger(engine, "journal", slots=1), AccessLogger(other, "journal", slots=1))
    await a.start(), await b.start()
    patient = uuid.uuid4()
    try:
        before = retried()
        await a.log(entry(patient), patient)
        await b.log(entry(patient), patient)  # a's cached head is now stale
        await asyncio.gather(*(lg.log(entry(patient, i), patient)
                               for i in range(50) for lg in (a, b)))
        assert a.slot == b.slot == 0
        assert retried() - before == a.retries + b.retries >= 1
    finally:
        await a.stop(), await b.stop()
        await other.dispose()
        shutdown()
    report = await verify_db(database_url, schema, patient=patient)
    assert report.intact and (report.entries, report.chains) == (102, 1)


async def test_a_chains_head_is_found_without_reading_its_history(logger, engine):
    """A replica that meets a chain it has not cached (after a restart, or after another
    replica wrote to it) reads its newest entry only, however many accesses came before."""
    patient = uuid.uuid4()
    await asyncio.gather(*(logger.log(entry(patient, i), patient) for i in range(120)))
    streams = [logger.stream_of(patient), logger.stream_of(uuid.uuid4())]   # one never written
    async with engine.connect() as sa:
        raw = (await sa.get_raw_connection()).driver_connection
        heads = await raw.fetch(_HEADS, streams)
        plan = await raw.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + _HEADS, streams)
    last = (await rows(engine, "SELECT envelope->'data'->>'hash' FROM events WHERE stream_id = "
                               ":s ORDER BY stream_version DESC LIMIT 1", s=streams[0]))[0][0]
    assert [tuple(h) for h in heads] == [(streams[0], 120, last)]

    def read_from_events(node: dict) -> int:
        own = node["Actual Rows"] * node["Actual Loops"] \
            if node.get("Relation Name") == "events" else 0
        return own + sum(read_from_events(n) for n in node.get("Plans", []))
    assert read_from_events(plan[0]["Plan"]) <= len(streams)


async def test_log_returns_only_when_the_entry_is_durable_and_in_the_outbox(
        logger, database_url, schema):
    patient = uuid.uuid4()
    e = entry(patient, 7)
    await logger.log(e, patient)
    check = make_engine(database_url, schema, pool_size=1)  # another connection sees it
    try:
        [(version, data, topic)] = await rows(check, """
            SELECT e.stream_version, e.envelope->'data', o.topic
              FROM events e JOIN outbox o USING (position) WHERE e.stream_id = :s""",
            s=f"audit-journal-{patient}")
    finally:
        await check.dispose()
    data = data if isinstance(data, dict) else json.loads(data)
    assert version == data["seq"] == 1 and topic == "audit.access"
    assert data["chain"] == f"journal:{patient}" and data["resources"] == ["Observation/7"]
    assert data["hpr"] == "1234567" and data["legal_basis"] == "care_relation"


async def test_a_failed_write_fails_every_waiter(database_url, unique):
    broken = make_engine(database_url, f"missing_{unique}")  # no event store in this schema
    lg = AccessLogger(broken, "journal")
    await lg.start()
    patient = uuid.uuid4()
    try:
        results = await asyncio.gather(*(lg.log(entry(patient), patient) for _ in range(3)),
                                       return_exceptions=True)
    finally:
        await lg.stop()
        await broken.dispose()
    assert all(isinstance(r, Exception) for r in results)


async def test_stop_flushes_what_is_queued_and_later_logs_are_refused(engine, database_url,
                                                                      schema):
    lg = AccessLogger(engine, "journal", max_batch=4)
    await lg.start()
    patient = uuid.uuid4()
    pending = [asyncio.create_task(lg.log(entry(patient, i), patient)) for i in range(10)]
    await asyncio.sleep(0)  # queued, not yet written
    await lg.stop()
    assert all(t.done() and t.exception() is None for t in pending)
    assert (await verify_db(database_url, schema)).entries == 10
    with pytest.raises(RuntimeError, match="not running"):
        await lg.log(entry(patient), patient)


async def tamper(engine, how: str, stream: str) -> None:
    pos = [r[0] for r in await rows(engine, "SELECT position FROM events WHERE stream_id = :s "
                                    "ORDER BY position", s=stream)]
    async with engine.begin() as conn:
        if how == "edit":
            await conn.execute(text("""UPDATE events SET envelope = jsonb_set(envelope,
                '{data,outcome}', '"deny"') WHERE position = :p"""), {"p": pos[2]})
        elif how == "delete":
            await conn.execute(text("DELETE FROM outbox WHERE position = :p"), {"p": pos[1]})
            await conn.execute(text("DELETE FROM events WHERE position = :p"), {"p": pos[1]})
        else:  # swap the data of entries 2 and 4
            await conn.execute(text("""
                UPDATE events e SET envelope = jsonb_set(e.envelope, '{data}', o.envelope->'data')
                  FROM events o WHERE (e.position, o.position) IN ((:a, :b), (:b, :a))"""),
                {"a": pos[1], "b": pos[3]})


@pytest.mark.parametrize("how, kind, seqs", [
    ("edit", "altered", {3}), ("delete", "missing", {2}), ("swap", "reordered", {2, 3})])
async def test_tampering_in_the_table_is_reported(
        how, kind, seqs, logger, engine, database_url, schema, cli_env):
    patient, bystander = uuid.uuid4(), uuid.uuid4()
    for i in range(5):
        await asyncio.gather(logger.log(entry(patient, i), patient),
                             logger.log(entry(bystander, i), bystander))
    ok = await asyncio.to_thread(cli, "--source", "db", "--schema", schema)
    assert ok.exit_code == 0, ok.output
    assert "10 entries in 2 chains verified" in ok.output

    await tamper(engine, how, f"audit-journal-{patient}")
    report = await verify_db(database_url, schema)
    assert {p.chain for p in report.problems} == {f"journal:{patient}"}
    found = {(p.kind, p.seq) for p in report.problems}
    assert {k for k, _ in found} == {kind} and {s for _, s in found} & seqs, found
    res = await asyncio.to_thread(cli, "--source", "db", "--schema", schema)
    assert res.exit_code == 1, res.output
    assert kind in res.output and str(patient)[:8] in res.output
    only_other = await asyncio.to_thread(cli, "--schema", schema, "--patient", str(bystander))
    assert only_other.exit_code == 0, only_other.output


async def test_a_cut_off_newest_entry_is_missing_against_the_stream_version(
        logger, engine, database_url, schema):
    patient = uuid.uuid4()
    for i in range(3):
        await logger.log(entry(patient, i), patient)
    [(pos,)] = await rows(engine, "SELECT max(position) FROM events")
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM outbox WHERE position = :p"), {"p": pos})
        await conn.execute(text("DELETE FROM events WHERE position = :p"), {"p": pos})
    report = await verify_db(database_url, schema)
    assert [(p.kind, p.seq) for p in report.problems] == [("missing", 3)]


async def test_cli_errors_are_one_sentence_and_exit_2(monkeypatch, schema):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/ehr")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    get_settings.cache_clear()
    try:
        res = await asyncio.to_thread(cli, "--schema", schema)
        kafka = await asyncio.to_thread(cli, "--source", "kafka")
        bad = await asyncio.to_thread(cli, "--patient", "not-a-uuid")
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 2 and "cannot read the access log" in res.output, res.output
    assert kafka.exit_code == 2 and "cannot read 'audit.access'" in kafka.output, kafka.output
    assert "Traceback" not in res.output + kafka.output
    assert bad.exit_code == 2 and "--patient must be a UUID" in bad.output


async def test_the_relayed_topic_verifies_intact(
        engine, database_url, schema, kafka_bootstrap, make_topics, cli_env):
    topic = await make_topics("audit.access", 3)
    lg = AccessLogger(engine, "journal", topic_names={"audit.access": topic})
    await lg.start()
    patients = [uuid.uuid4() for _ in range(4)]
    await asyncio.gather(*(lg.log(entry(p, i), p) for i in range(10) for p in patients))
    await lg.stop()
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.published == 40, what="relay published the log")
    finally:
        relay.stop()
        await task
    # a relay that crashed before marking rows published sends them again: not a duplicate
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    async with engine.connect() as conn:
        again = (await conn.execute(text("SELECT envelope::text, patient_id::text FROM events "
                                         "ORDER BY position LIMIT 5"))).all()
    for value, key in again:
        await producer.send_and_wait(topic, value.encode(), key=key.encode())
    await producer.stop()
    report = await verify_kafka(kafka_bootstrap, topic)
    assert report.intact and (report.entries, report.chains) == (40, 4)
    res = await asyncio.to_thread(cli, "--source", "kafka", "--topic", topic)
    assert res.exit_code == 0 and "40 entries in 4 chains verified" in res.output, res.output
    one = await verify_kafka(kafka_bootstrap, topic, patient=patients[0])
    assert one.intact and (one.entries, one.chains) == (10, 1)
