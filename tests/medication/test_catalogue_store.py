"""The drug catalogue in PostgreSQL: loads, the live copy a service holds, and ``ehr catalogue``.

A second load of the same extract is "nothing to do": no load row, no notification, and the
result names the load that is already current.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.main import app
from libs.events.db import make_engine
from services.medication.catalogue import (CatalogueError, Extract, apply_plan, parse_extract,
                                           read_sample, sample_catalogue, sample_extract)
from services.medication.catalogue.store import CatalogueStore, LiveCatalogue
from tests.conftest import count_rows
from tests.support.waiting import eventually

SAMPLE_DATE = date(2026, 11, 29)
PRODUCT_IDS = [p["id"] for p in read_sample()["products"]]
VALIUM = next(p["id"] for p in read_sample()["products"] if p["name"] == "Valium")
runner = CliRunner()


def extract(extract_date: str = "2026-12-15", *, without: tuple[str, ...] = (),
            keep: int | None = None, change: Callable[[dict[str, Any]], None] | None = None
            ) -> Extract:
    """The sample as of ``extract_date``, without some products (or keeping only the first
    ``keep``), and with ``change`` applied to the raw extract."""
    raw = copy.deepcopy(read_sample())
    raw["extract"]["extract_date"] = extract_date
    raw["products"] = [p for p in raw["products"][:keep] if p["id"] not in without]
    if change:
        change(raw)
    return parse_extract(raw)


def lower_first_maximum(raw: dict[str, Any]) -> None:
    first = next(p for p in raw["products"] if p.get("max_daily_dose"))
    first["max_daily_dose"]["amount"] /= 2


@pytest.fixture
async def store(engine: AsyncEngine) -> CatalogueStore:
    s = CatalogueStore(engine)
    await s.setup()
    return s


@pytest.fixture
async def other_store(database_url: str, schema: str) -> AsyncIterator[CatalogueStore]:
    """A second loader on the same schema, as another process would be."""
    eng = make_engine(database_url, schema, pool_size=1)
    yield CatalogueStore(eng)
    await eng.dispose()


async def loads(engine: AsyncEngine) -> int:
    return await count_rows(engine, "SELECT count(*) FROM catalogue_loads")


# --- loading ---------------------------------------------------------------------------------


async def test_loading_the_sample_twice_writes_once(store: CatalogueStore, engine) -> None:
    assert await store.current() is None
    first = await store.load(sample_extract(), source="sample")
    assert not first.nothing_to_do
    assert first.plan.counts()["products"]["added"] == 50

    second = await store.load(sample_extract(), source="sample")
    assert second.nothing_to_do and second.load_id == first.load_id
    assert second.plan.counts()["products"]["unchanged"] == 50
    assert await loads(engine) == 1
    assert await count_rows(engine, "SELECT count(*) FROM catalogue_items") == 130
    assert await store.current() == (first.load_id, sample_catalogue())


async def test_a_product_missing_from_a_newer_extract_expires_and_stays_readable(
        store: CatalogueStore, engine) -> None:
    await store.load(sample_extract(), source="sample")
    newer = extract(without=(VALIUM,), change=lower_first_maximum)
    result = await store.load(newer, source="newer.json")
    assert result.plan.counts()["products"] == {"added": 0, "changed": 1, "restored": 0,
                                                "unchanged": 48, "expired": 1,
                                                "still_expired": 0}
    load_id, cat = await store.current()
    assert load_id == result.load_id and cat.extract_date == date(2026, 12, 15)
    assert cat.is_expired(VALIUM) and cat.expired[VALIUM] == date(2026, 12, 15)
    assert cat.product(VALIUM) == sample_catalogue().product(VALIUM)  # kept, still readable
    assert VALIUM not in {p.id for p in cat.active_products()}
    assert await count_rows(engine, "SELECT count(*) FROM catalogue_items WHERE id = :i "
                                    "AND expired_on = '2026-12-15'", i=VALIUM) == 1
    assert await store.counts() == {"substances": (50, 0), "products": (49, 1),
                                    "interactions": (30, 0)}

    back = await store.load(extract("2027-01-10"), source="back.json")
    assert back.plan.products.restored[0].id == VALIUM
    assert not (await store.current())[1].is_expired(VALIUM)


async def test_current_equals_the_pure_plans_applied_in_turn(store: CatalogueStore) -> None:
    steps = [
        (sample_extract(), {}),
        (extract("2026-12-01", without=(VALIUM,)), {}),
        (extract("2026-12-15", without=(VALIUM, PRODUCT_IDS[0]), change=lower_first_maximum),
         {}),
        (extract("2026-12-20", without=(PRODUCT_IDS[0],)), {}),
        (extract("2026-12-20", without=(PRODUCT_IDS[0],)), {}),  # nothing to do
        (extract("2026-12-10"), {"allow_older": True}),
    ]
    expected, states = None, []
    for new, options in steps:
        result = await store.load(new, source="step", **options)
        expected = apply_plan(expected, result.plan)
        assert await store.current() == (result.load_id, expected)
        states.append(expected)
    assert states[2].expired == {VALIUM: date(2026, 12, 1),  # the first extract that lacked it
                                 PRODUCT_IDS[0]: date(2026, 12, 15)}
    assert states[3].expired == {PRODUCT_IDS[0]: date(2026, 12, 15)}
    assert states[5].expired == {}


async def test_an_older_extract_is_refused_unless_allowed(store: CatalogueStore, engine) -> None:
    await store.load(extract("2026-12-15"), source="newer.json")
    with pytest.raises(CatalogueError, match="older than the loaded catalogue"):
        await store.load(sample_extract(), source="sample")
    assert await loads(engine) == 1

    rolled_back = await store.load(sample_extract(), source="sample", allow_older=True)
    assert (await store.current())[1].extract_date == SAMPLE_DATE
    assert (await store.history(1))[0].load_id == rolled_back.load_id
    assert (await store.history(1))[0].allow_older


async def test_a_truncated_extract_is_refused_unless_forced(store: CatalogueStore,
                                                            engine) -> None:
    first = await store.load(sample_extract(), source="sample")
    half = extract(keep=25)
    with pytest.raises(CatalogueError) as refused:
        await store.load(half, source="half.json")
    assert "lacks 25 of the 50 active products (50%" in str(refused.value)
    assert "looks truncated" in str(refused.value)
    assert await loads(engine) == 1 and (await store.current())[0] == first.load_id

    forced = await store.load(half, source="half.json", force=True)
    assert forced.plan.counts()["products"]["expired"] == 25
    assert (await store.history(1))[0].forced
    assert await store.counts() == {"substances": (50, 0), "products": (25, 25),
                                    "interactions": (30, 0)}


async def test_concurrent_loads_run_one_after_the_other(store: CatalogueStore, database_url,
                                                        schema) -> None:
    await store.load(sample_extract(), source="sample")
    engines = [make_engine(database_url, schema, pool_size=1) for _ in range(4)]
    try:
        extracts = [extract(f"2026-12-0{i + 1}", without=(PRODUCT_IDS[i],)) for i in range(4)]
        results = await asyncio.gather(*(
            CatalogueStore(e).load(x, source=f"loader {i}", allow_older=True)
            for i, (e, x) in enumerate(zip(engines, extracts, strict=True))))
    finally:
        for e in engines:
            await e.dispose()
    # each load was planned against the state the one before it left: replaying the plans in
    # load order gives the stored state (apply_plan refuses a plan made against another state)
    expected = sample_catalogue()
    for result in sorted(results, key=lambda r: r.load_id):
        assert not result.nothing_to_do
        expected = apply_plan(expected, result.plan)
    last_id, stored = await store.current()
    assert stored == expected and last_id == max(r.load_id for r in results)
    assert len(stored.expired) == 1  # only the last loader's missing product is expired


# --- the live catalogue ----------------------------------------------------------------------


async def test_the_live_catalogue_loads_the_sample_and_follows_another_loader(
        store: CatalogueStore, other_store: CatalogueStore) -> None:
    live = LiveCatalogue(store, load_sample_if_empty=True, poll_interval_s=3600)
    await live.start()
    try:
        assert live.catalogue == sample_catalogue() and live.extract_date == SAMPLE_DATE
        assert live.view.product(VALIUM).expired is False
        assert live.view is live.view
        started_with = live.load_id

        result = await other_store.load(extract(without=(VALIUM,)), source="elsewhere")
        await eventually(lambda: live.load_id == result.load_id, timeout_s=20,
                         what="(the notification of the other load)")
        assert live.load_id != started_with
        assert live.extract_date == date(2026, 12, 15)
        assert live.catalogue.is_expired(VALIUM) and live.view.product(VALIUM).expired
        assert await live.refresh() is False  # already current
        listener = live._listener
    finally:
        await live.stop()
    assert listener is not None and listener.is_closed()


async def test_the_live_catalogue_starts_empty_when_asked_not_to_load_the_sample(
        store: CatalogueStore, other_store: CatalogueStore, engine) -> None:
    live = LiveCatalogue(store, load_sample_if_empty=False, poll_interval_s=3600)
    await live.start()
    try:
        assert live.catalogue is None and live.view is None and live.load_id is None
        assert await loads(engine) == 0
        result = await other_store.load(sample_extract(), source="sample")
        await eventually(lambda: live.load_id == result.load_id, timeout_s=20)
        assert live.view.product(VALIUM) is not None
    finally:
        await live.stop()


async def test_a_failed_refresh_keeps_the_catalogue_in_hand(
        store: CatalogueStore, other_store: CatalogueStore, monkeypatch) -> None:
    live = LiveCatalogue(store, load_sample_if_empty=True, poll_interval_s=3600)
    await live.start()
    try:
        before = live.load_id

        async def broken():
            raise OSError("connection reset")

        monkeypatch.setattr(store, "current", broken)
        await other_store.load(extract(without=(VALIUM,)), source="elsewhere")
        await eventually(lambda: live.last_error is not None, timeout_s=20)
        assert "connection reset" in live.last_error
        assert live.load_id == before and not live.catalogue.is_expired(VALIUM)

        monkeypatch.undo()
        assert await live.refresh() is True
        assert live.catalogue.is_expired(VALIUM) and live.last_error is None
    finally:
        await live.stop()


# --- ehr catalogue ---------------------------------------------------------------------------


def invoke(*args: str):
    # the CLI runs its own event loop; keep it off the test's loop
    return runner.invoke(app, ["catalogue", *args], catch_exceptions=False)


async def cli(*args: str):
    return await asyncio.to_thread(invoke, *args)


def write(path, new: Extract) -> str:
    path.write_text(json.dumps(new.model_dump(mode="json", by_alias=True)), encoding="utf-8")
    return str(path)


async def test_cli_loads_shows_and_says_when_nothing_changed(cli_env, schema) -> None:
    empty = await cli("show", "--schema", schema)
    assert empty.exit_code == 0, empty.output
    assert "No drug catalogue is loaded" in empty.output

    first = await cli("load", "--schema", schema)
    assert first.exit_code == 0, first.output
    assert "load 1: extract of 2026-11-29" in first.output
    assert "products" in first.output and "50" in first.output
    assert "SAMPLE DATA" in first.output

    again = await cli("load", "--schema", schema)
    assert again.exit_code == 0, again.output
    assert "nothing changed: the extract of 2026-11-29 is already loaded (load 1)" in again.output

    shown = await cli("show", "--schema", schema)
    assert shown.exit_code == 0, shown.output
    assert "extract of 2026-11-29" in shown.output and "current load: 1" in shown.output
    assert "50 added" in shown.output


async def test_cli_refuses_truncated_older_and_broken_extracts(cli_env, schema, engine,
                                                               tmp_path) -> None:
    assert (await cli("load", "--schema", schema)).exit_code == 0
    half = write(tmp_path / "half.json", extract(keep=25))
    refused = await cli("load", half, "--schema", schema)
    assert refused.exit_code == 1
    assert "the catalogue was not loaded" in refused.output
    assert "lacks 25 of the 50 active products" in refused.output
    assert "Traceback" not in refused.output
    assert await loads(engine) == 1

    forced = await cli("load", half, "--force", "--schema", schema)
    assert forced.exit_code == 0, forced.output
    assert "load 2 (forced)" in forced.output

    older = write(tmp_path / "older.json", extract("2026-11-01", keep=25))
    refused = await cli("load", older, "--schema", schema)
    assert refused.exit_code == 1 and "is older than the loaded catalogue" in refused.output
    allowed = await cli("load", older, "--allow-older", "--schema", schema)
    assert allowed.exit_code == 0, allowed.output

    broken = tmp_path / "broken.json"
    broken.write_text('{"extract": ', encoding="utf-8")
    res = await cli("load", str(broken), "--schema", schema)
    assert res.exit_code == 1 and "is not valid JSON (line 1" in res.output

    shown = await cli("show", "--schema", schema)
    assert shown.exit_code == 0, shown.output
    assert "2026-11-01" in shown.output and "forced" in shown.output
    assert await loads(engine) == 3
