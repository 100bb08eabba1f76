"""The ``welfare_readings`` read model on PostgreSQL: a run of readings is one statement, and
what a reader sees is what one insert per event would have left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

from sqlalchemy import text

from services.welfare import contract as ev
from services.welfare.projections.readings import ReadingsProjection, ReadingsReader

AT = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _spo2(n: int) -> ev.Measurement:
    return ev.Measurement(
        reading_id=uuid4(), device="tablet-1", device_event_id=f"e{n}", technology="dho",
        effective_at=AT + timedelta(minutes=n), received_at=AT + timedelta(minutes=n, seconds=5),
        code="59408-5", components=[ev.Component(code="59408-5", value=90 + n, ucum="%")])


async def test_a_batch_of_readings_lands_once_each_with_its_latest_status(engine):
    projection, pid = ReadingsProjection(), uuid4()
    env = SimpleNamespace(patient_id=pid)   # the projection reads only the envelope's patient
    a, b, c = _spo2(1), _spo2(2), _spo2(3)
    why = "ingen samtykke for teknologien"
    batch = [(env, ev.MeasurementReceived(reading=a)),
             (env, ev.ReadingQuarantined(reading=b, reading_id=b.reading_id, reason=why)),
             (env, ev.MeasurementReceived(reading=a)),   # the same reading again in the run
             (env, ev.QuarantineReleased(reading=b, reading_id=b.reading_id, reason="vedtak",
                                         by="1234567", unit="974600978",
                                         decided_at=AT + timedelta(hours=1))),
             (env, ev.MeasurementReceived(reading=c))]
    async with engine.begin() as conn:
        await projection.setup(conn)
        await projection.apply_batch(conn, batch)
    async with engine.begin() as conn:   # a batch applied again changes nothing
        await projection.apply_batch(conn, batch[:1])
        count = await conn.scalar(text("SELECT count(*) FROM welfare_readings"))
    got = await ReadingsReader(engine).readings(pid)
    assert count == 3
    assert [(r["device_event_id"], r["status"]) for r in got] == [
        ("e3", "accepted"), ("e2", "released"), ("e1", "accepted")]
    assert got[2]["components"][0]["value"] == 91


async def test_a_quarantined_reading_accepted_later_in_the_same_run_is_accepted(engine):
    """Consent came between the two deliveries of one reading: the later status wins, as it
    would with one insert per event (``ON CONFLICT ... DO UPDATE``), and the row is the first
    delivery's."""
    projection, pid, a = ReadingsProjection(), uuid4(), _spo2(4)
    env = SimpleNamespace(patient_id=pid)
    batch = [(env, ev.ReadingQuarantined(reading=a, reading_id=a.reading_id,
                                         reason="ingen samtykke for teknologien")),
             (env, ev.MeasurementReceived(reading=a))]
    async with engine.begin() as conn:
        await projection.setup(conn)
        await projection.apply_batch(conn, batch)
    one_by_one, pid2 = ReadingsProjection(), uuid4()   # the same events, one batch each
    env2, b = SimpleNamespace(patient_id=pid2), _spo2(5)
    async with engine.begin() as conn:
        await one_by_one.apply_batch(conn, [(env2, ev.ReadingQuarantined(
            reading=b, reading_id=b.reading_id, reason="ingen samtykke for teknologien"))])
    async with engine.begin() as conn:
        await one_by_one.apply_batch(conn, [(env2, ev.MeasurementReceived(reading=b))])
    reader = ReadingsReader(engine)
    assert [r["status"] for r in await reader.readings(pid)] == ["accepted"]
    assert [r["status"] for r in await reader.readings(pid2)] == ["accepted"]
