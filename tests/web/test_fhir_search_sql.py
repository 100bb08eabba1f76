"""FHIR search in SQL over a real PostgreSQL (issue 12, finding 6): the same results as the
search that loaded every resource of the patient and filtered in Python (kept here as the
oracle), keyset pages with no duplicate or gap while resources are added, ``total`` only up to
its bound, the page read from one range of an index (the plan, not the time), and a table from
before the search columns filled in at setup."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from libs.web.fhir.search import (
    SearchQuery, date_conditions, date_filters, parsed_query, token_values,
)
from libs.web.fhir.searchable import FhirType, codes, statuses, when
from libs.web.fhir.versions import (
    ORDER, TOTAL_UP_TO, VersionReader, count_sql, create_versions_table, page_sql, search_sql,
    write_versions,
)
from tests.support.waiting import passes

TABLE = "search_fhir"
TYPES = {"Observation": FhirType("observations", ("effectiveDateTime",)),
         "Condition": FhirType("conditions", ("recordedDate", "onsetDateTime"))}
START = datetime(2026, 1, 1, tzinfo=UTC)
CODES = ["8867-4", "8310-5", "9279-1"]


def _doc(rng: random.Random, rtype: str, rid: str) -> dict:
    day = START + timedelta(days=rng.randrange(6), hours=rng.choice([0, 8, 8, 15]))
    stamp = rng.choice([day.isoformat(), day.date().isoformat(), day.isoformat(), None])
    code = {"coding": [{"system": "http://loinc.org", "code": rng.choice(CODES)}]}
    if rtype == "Observation":
        doc = {"status": rng.choice(["final", "amended", "entered-in-error"]), "code": code,
               "effectiveDateTime": stamp}
    else:
        doc = {"code": code, "clinicalStatus": {"coding": [{"code": rng.choice(
            ["active", "resolved"])}]}, rng.choice(["recordedDate", "onsetDateTime"]): stamp}
    return {"resourceType": rtype, "id": rid} | {k: v for k, v in doc.items() if v}


class History:
    """Versions written through ``write_versions``, and the search as it was: every resource's
    newest version (at ``as_of``), filtered and sorted in Python."""

    def __init__(self, engine):
        self.engine, self.rng, self.clock = engine, random.Random(12), START
        self.written: list[tuple[str, str, UUID, datetime, dict]] = []

    async def write(self, changed: list[tuple[str, str, UUID, dict]]) -> None:
        batch = []
        for rtype, rid, patient, doc in changed:
            self.clock += timedelta(seconds=self.rng.choice([0, 1, 1, 60]))
            batch.append((rtype, rid, patient, self.clock, doc))
        self.written += [(t, i, p, at, dict(d)) for t, i, p, at, d in batch]
        async with self.engine.begin() as conn:
            await write_versions(conn, TABLE, batch, TYPES)

    def oracle(self, patient: UUID, rtype: str, date_: list[str] | None, code: str | None,
               status: str | None, withheld: set[str], as_of: datetime | None) -> list[tuple]:
        newest: dict[str, tuple[int, dict]] = {}
        numbers: dict[str, int] = {}
        for t, rid, p, at, doc in self.written:
            if t != rtype:
                continue
            numbers[rid] = numbers.get(rid, 0) + 1
            if p == patient and (as_of is None or at <= as_of):
                newest[rid] = (numbers[rid], doc)
        kind = TYPES[rtype]
        checks = [lambda d, c=c: (w := when(d, kind.dates)) is not None and c(w)
                  for c in date_filters(date_)]
        if code:
            checks.append(lambda d: bool(codes(d, kind.codes) & set(token_values(code))))
        if status:
            checks.append(lambda d: bool(statuses(d) & set(token_values(status))))
        found = [(rid, v, d) for rid, (v, d) in newest.items()
                 if rid not in withheld and all(c(d) for c in checks)]
        found.sort(key=lambda x: (when(x[2], kind.dates) or datetime.min.replace(tzinfo=UTC),
                                  x[0]), reverse=True)
        return [(rid, str(v)) for rid, v, _ in found]


@pytest.fixture
async def history(engine) -> History:
    async with engine.begin() as conn:
        await create_versions_table(conn, TABLE, TYPES)
    return History(engine)


async def walk(reader: VersionReader, patient: UUID, rtype: str, query: SearchQuery,
               between=None) -> list[tuple[str, str]]:
    """Every page, each after the previous one's cursor; ``between`` runs between pages."""
    seen, after = [], None
    while True:
        page, after, _ = await reader.search(patient, rtype, replace(query, after=after))
        assert len(page) <= query.count
        seen += [(d.id, d.resource()["meta"]["versionId"]) for d in page]
        if after is None:
            return seen
        assert len(page) == query.count
        if between:
            await between()


async def test_sql_search_finds_what_the_python_search_found(engine, history: History):
    rng, patients = history.rng, [uuid4(), uuid4()]
    ids = [(rng.choice(list(TYPES)), f"r{n:03d}", rng.choice(patients)) for n in range(90)]
    for _ in range(6):      # new resources and new versions, several of one in a batch
        await history.write([(t, i, p, _doc(rng, t, i)) for t, i, p in rng.sample(ids, 40)])
    reader = VersionReader(engine, TABLE)
    days = [(START + timedelta(days=d)).date().isoformat() for d in range(-1, 7)]
    instants = [(START + timedelta(days=d, hours=8)).isoformat().replace("+00:00", "Z")
                for d in range(6)]
    times = [at for *_, at, _ in history.written]
    for n in range(80):
        rtype, patient = rng.choice(list(TYPES)), rng.choice(patients)
        date_ = [rng.choice(["eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", ""])
                 + rng.choice(days + instants) for _ in range(rng.choice([0, 0, 1, 2]))]
        code = rng.choice([None, None, "8867-4", "http://loinc.org|8310-5,9279-1", "nope"])
        status = rng.choice([None, None, "final", "amended,entered-in-error", "active"])
        withheld = set(rng.sample([i for _, i, _ in ids], rng.choice([0, 3]))) | {"notes"}
        as_of = rng.choice([None, None, rng.choice(times),
                            rng.choice(times) + timedelta(microseconds=1)])
        expected = history.oracle(patient, rtype, date_, code, status, withheld, as_of)
        query = SearchQuery(dates=date_conditions(date_), codes=token_values(code),
                            statuses=token_values(status), withheld=sorted(withheld),
                            as_of=as_of, count=rng.randint(1, 12))
        assert await walk(reader, patient, rtype, query) == expected, (n, query)
        offset = rng.randrange(len(expected) + 2)
        page, _, total = await reader.search(patient, rtype, replace(query, offset=offset))
        assert [(d.id, d.resource()["meta"]["versionId"]) for d in page] == \
            expected[offset:offset + query.count]
        assert total == len(expected)


async def test_pages_have_no_duplicate_or_gap_while_resources_are_added(engine,
                                                                        history: History):
    rng, patient = history.rng, uuid4()
    first = [f"o{n:03d}" for n in range(60)]
    await history.write([("Observation", i, patient, _doc(rng, "Observation", i))
                         for i in first])
    added = iter(range(1000))

    async def meanwhile():     # new resources (newer, older, the same day) and a new version
        news = [f"new{next(added):03d}" for _ in range(4)]
        await history.write([("Observation", i, patient, _doc(rng, "Observation", i))
                             for i in news])
        rid = rng.choice(first)
        doc = next(d for t, i, _, _, d in reversed(history.written) if i == rid)
        await history.write([("Observation", rid, patient, doc | {"status": "amended"})])

    seen = await walk(VersionReader(engine, TABLE), patient, "Observation",
                      SearchQuery(count=7), between=meanwhile)
    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)), "a resource on two pages"
    assert set(first) <= set(ids), "a resource skipped"


async def test_total_is_counted_up_to_its_bound(engine, history: History):
    patient = uuid4()
    await history.write([("Observation", f"o{n:04d}", patient,
                          {"resourceType": "Observation", "id": f"o{n:04d}",
                           "status": "final" if n else "amended",
                           "effectiveDateTime": (START + timedelta(minutes=n)).isoformat()})
                         for n in range(TOTAL_UP_TO + 1)])
    reader = VersionReader(engine, TABLE)
    page, after, total = await reader.search(patient, "Observation", SearchQuery(count=5))
    assert total is None and after is not None
    assert [d.id for d in page] == [f"o{n:04d}" for n in range(1000, 995, -1)]
    _, _, total = await reader.search(patient, "Observation",
                                      SearchQuery(statuses=["final"], count=5))
    assert total == TOTAL_UP_TO
    _, _, total = await reader.search(patient, "Observation",
                                      SearchQuery(statuses=["amended"], count=5))
    assert total == 1


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(engine, sql: str, args: list) -> list[dict]:
    """Every node of the plan PostgreSQL would run ``sql`` with."""
    async with engine.connect() as sa:
        conn = (await sa.get_raw_connection()).driver_connection
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return list(_nodes(plan[0]["Plan"]))


async def test_a_page_reads_one_range_of_the_current_index(engine, history: History):
    rng, patients = history.rng, [uuid4() for _ in range(4)]
    for n in range(8):        # 4 patients, 1,200 resources each, many with several versions
        await history.write([("Observation", f"o{k:04d}-{p.hex[:4]}", p,
                              _doc(rng, "Observation", "x")) for p in patients
                             for k in range(150 * n if n % 2 else 0, 150 * (n + 1))])
    async with engine.begin() as conn:
        await conn.execute(text(f"ANALYZE {TABLE}"))
    reader = VersionReader(engine, TABLE)
    _, after, _ = await reader.search(patients[0], "Observation", SearchQuery(count=20))
    for query in (SearchQuery(count=20), SearchQuery(count=20, after=after),
                  SearchQuery(count=20, codes=["8867-4"], withheld=["o1-001"])):
        nodes = await _plan(engine, *page_sql(TABLE, patients[0], "Observation", query))
        assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")], nodes
        assert any(n.get("Index Name") == f"{TABLE}_current" for n in nodes), nodes


async def test_a_count_reads_the_pages_range_even_before_statistics(engine, history: History):
    """A table never analyzed (just created, just imported): counting without the page's order,
    the planner went through every current resource of the type, of every patient."""
    rng, patients = history.rng, [uuid4() for _ in range(4)]
    await history.write([("Observation", f"c{k:03d}-{p.hex[:4]}", p, _doc(rng, "Observation", "x"))
                         for p in patients for k in range(50)])
    reader = VersionReader(engine, TABLE)
    for date_, code, status in ((None, "8867-4", None), (None, None, "final"),
                                (["ge2026-01-03"], None, None)):
        query = parsed_query(date_, code, status, 5, 0, None)
        nodes = await _plan(engine, *search_sql(TABLE, patients[0], "Observation", query,
                                                with_facts=False))   # the count and the page
        assert [n["Index Name"] for n in nodes if "Index Name" in n] == [f"{TABLE}_current"] * 2
        _, _, total = await reader.search(patients[0], "Observation", query)
        assert total == len(history.oracle(patients[0], "Observation", date_, code, status,
                                           set(), None)) > 5


async def test_a_count_reads_the_current_index_alone_once_vacuumed(engine, history: History):
    """The codes and statuses a search filters on are in the current index: once vacuumed, a
    count reads that index alone, not every version of the patient and a sort of them."""
    rng, patients = history.rng, [uuid4() for _ in range(4)]
    for n in range(4):
        await history.write([("Observation", f"v{n}-{k:03d}-{p.hex[:4]}", p,
                              _doc(rng, "Observation", "x")) for p in patients
                             for k in range(100 * n if n % 2 else 0, 100 * (n + 1))])
    await passes(lambda: _vacuumed(engine), timeout_s=60, interval_s=0.5)
    for date_, code, status in ((None, "8867-4", None), (None, None, "final"),
                                (["ge2026-01-03"], "8310-5", "amended")):
        query = parsed_query(date_, code, status, 5, 0, None)
        nodes = await _plan(engine, *count_sql(TABLE, patients[1], "Observation", query))
        scans = [(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]]
        assert scans == [("Index Only Scan", f"{TABLE}_current")], nodes
        _, _, total = await VersionReader(engine, TABLE).search(patients[1], "Observation", query)
        assert total == len(history.oracle(patients[1], "Observation", date_, code, status,
                                           set(), None)) > 5


async def _vacuumed(engine) -> None:
    """VACUUM ANALYZE, and every page of the table all-visible after it. A transaction open
    anywhere on the server (another test's, on a loaded machine) keeps the newest rows from
    being marked so, and PostgreSQL then reads the table (a seq scan, seen under load; with a
    transaction held open in a trial, even with seq scans turned off it did not read
    ``*_current``): not the state the test is about, so it vacuums again until it is."""
    async with engine.connect() as sa:
        conn = await sa.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"VACUUM ANALYZE {TABLE}"))
        pages, visible = (await conn.execute(text(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": TABLE})).one()
    assert visible == pages > 0, f"{visible} of {pages} pages all-visible"


async def test_a_current_index_from_before_its_codes_is_made_again_at_setup(engine):
    async with engine.begin() as conn:
        await create_versions_table(conn, TABLE, TYPES)
        await conn.execute(text(f"DROP INDEX {TABLE}_current"))
        await conn.execute(text(f"CREATE INDEX {TABLE}_current ON {TABLE} "    # as it was
                                f"(patient_id, resource_type, {ORDER}) "
                                "WHERE superseded_at IS NULL"))
        await create_versions_table(conn, TABLE, TYPES)
        await create_versions_table(conn, TABLE, TYPES)     # and as it is now, left so
        here = "SELECT {} FROM pg_indexes WHERE schemaname = current_schema() AND indexname "
        names = (await conn.execute(text(here.format("indexname") + "LIKE :t"),
                                    {"t": f"{TABLE}_current%"})).scalars()
        current = await conn.scalar(text(here.format("indexdef") + "= :i"),
                                    {"i": f"{TABLE}_current"})
    assert list(names) == [f"{TABLE}_current"]
    assert "INCLUDE (codes, statuses) WHERE (superseded_at IS NULL)" in current


async def test_a_setup_of_a_table_as_it_is_now_leaves_its_readers_alone(engine):
    """Every projection start runs the setup: with nothing to change it takes no lock that
    keeps the API's reads of the table waiting (an ALTER TABLE did, until the setup's end)."""
    async with engine.begin() as conn:
        await create_versions_table(conn, TABLE, TYPES)
    async with engine.connect() as setup, engine.connect() as reader:
        async with setup.begin():
            await create_versions_table(setup, TABLE, TYPES)    # and not committed yet
            async with reader.begin():
                await reader.execute(text("SET LOCAL lock_timeout = '2s'"))
                assert await reader.scalar(text(f"SELECT count(*) FROM {TABLE}")) == 0


async def test_a_table_from_before_the_search_columns_is_filled_at_setup(engine):
    patient, at = uuid4(), START
    async with engine.begin() as conn:
        await conn.execute(text(f"""
            CREATE TABLE {TABLE} (
                resource_type text NOT NULL, id text NOT NULL, version_id integer NOT NULL,
                patient_id uuid NOT NULL, last_updated timestamptz NOT NULL,
                doc jsonb NOT NULL, PRIMARY KEY (resource_type, id, version_id))"""))
        for rid, version, day, status in (("a", 1, 3, "final"), ("a", 2, 1, "amended"),
                                          ("b", 1, 2, "final")):
            at += timedelta(hours=1)
            doc = {"resourceType": "Observation", "id": rid, "status": status,
                   "effectiveDateTime": f"2026-01-0{day}T10:00:00+00:00",
                   "meta": {"versionId": str(version)}}
            await conn.execute(text(f"INSERT INTO {TABLE} VALUES ('Observation', :i, :v, :p, "
                                    ":at, CAST(:d AS jsonb))"),
                               {"i": rid, "v": version, "p": patient, "at": at,
                                "d": json.dumps(doc)})
        await create_versions_table(conn, TABLE, TYPES)
    reader = VersionReader(engine, TABLE)

    async def ids(**query) -> list[tuple[str, str]]:
        page, _, _ = await reader.search(patient, "Observation", SearchQuery(**query))
        return [(d.id, d.resource()["meta"]["versionId"]) for d in page]

    assert await ids() == [("b", "1"), ("a", "2")]
    assert await ids(as_of=START + timedelta(hours=1)) == [("a", "1")]
    assert await ids(as_of=START + timedelta(hours=2)) == [("a", "2")]
    assert await ids(statuses=["amended"], dates=date_conditions(["lt2026-01-02"])) == \
        [("a", "2")]


async def test_a_version_is_stored_with_its_narrative_and_read_as_stored(engine,
                                                                         history: History):
    """The narrative is made once, when a version is stored; a resource's own is kept; a
    version stored before then (none in the table) still reads with one, in a search page
    too, where the others are their stored text."""
    patient = uuid4()
    own = {"status": "additional",
           "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>egen</p></div>'}
    pulse = {"resourceType": "Observation", "id": "n1", "status": "final",
             "code": {"text": "Puls"}, "valueQuantity": {"value": 72, "unit": "/min"}}
    await history.write([("Observation", "n1", patient, pulse),
                         ("Observation", "n2", patient, pulse | {"id": "n2", "text": own})])
    async with engine.begin() as conn:
        stored = dict((await conn.execute(text(
            f"SELECT id, doc FROM {TABLE} WHERE patient_id = :p"), {"p": patient})).all())
        await conn.execute(text(f"""
            INSERT INTO {TABLE} (resource_type, id, version_id, patient_id, last_updated, doc)
            VALUES ('Observation', 'old', 1, :p, now(), CAST(:d AS jsonb))"""),
            {"p": patient, "d": json.dumps(pulse | {"id": "old"})})
    made = stored["n1"]["text"]
    assert made["status"] == "generated" and "Puls" in made["div"] and "72 /min" in made["div"]
    assert stored["n2"]["text"] == own
    reader = VersionReader(engine, TABLE)
    assert (await reader.current("Observation", "n1"))[2]["text"] == made
    assert (await reader.current("Observation", "n2"))[2]["text"] == own
    assert (await reader.current("Observation", "old"))[2]["text"] == made
    page, _, _ = await reader.search(patient, "Observation", SearchQuery())
    assert {d.id: d.resource()["text"] for d in page} == {"n1": made, "n2": own, "old": made}
    assert {d.id: d.resource() for d in page if d.id != "old"} == stored, "the stored text"
