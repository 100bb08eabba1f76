"""The registry benchmarks run (``python -m bench.registry``), small: both sides of each
comparison do all their work (every event folded, every person written), so a broken bench is
found by ``make test`` and not on the quiet machine. No timing is asserted."""

from __future__ import annotations

from bench import registry_batch as rb
from bench import registry_lag as rl
from bench import registry_stream as rs
from bench.registry import batch_table, lag_table, stream_table
from tests.registry_export.support import replay


async def test_the_stream_benchmark_folds_every_event_on_both_sides(kafka_bootstrap,
                                                                    database_url, unique):
    rates = await rs.run(kafka_bootstrap, database_url, persons=30, partitions=3, suffix=unique)
    assert [r.label for r in rates] == ["raw aiokafka: decode + fold", rs.WORKER]
    assert rates[0].events == rates[1].events > 30   # every person has several events
    assert all(0 < r.seconds <= r.total_s for r in rates)
    assert stream_table(rates).row_count == 2


async def test_the_lag_benchmark_sees_every_decision_on_both_sides(kafka_bootstrap,
                                                                  database_url, unique):
    lags = await rl.run(kafka_bootstrap, database_url, rate=60, seconds=2, partitions=3,
                        suffix=unique)
    assert [r.label for r in lags] == ["raw aiokafka: decision on the topic",
                                       "worker: decision in PostgreSQL"]
    assert lags[0].samples == lags[1].samples > 0   # run() refuses a decision never seen
    assert all(0 < r.p50_ms <= r.p99_ms for r in lags)
    assert lag_table(lags, 60).row_count == 2


def test_the_batch_benchmark_writes_the_extract_and_the_release():
    persons, ids = rb.people(60)
    assert len(persons) == 60 and set(ids) == {p.patient_id for p in persons}
    # the quick generator folds the same persons as the envelopes through the registry
    assert {p.patient_id: p for p in persons} == replay(rb.journal_envelopes(60))
    rows = rb.kpr(persons, ids) + rb.release(persons, ids)   # the KPR XML is XSD-validated
    assert [m.items for m in rows] == [60] * 4 and all(m.peak_mb > 0 for m in rows)
    assert batch_table({60: rows}).row_count == 4
