"""The story end to end on real Kafka and PostgreSQL: a service decision made by the journal's
own domain and store travels through the outbox to ``journal.events``; the faust worker folds
it; the published cell changes from suppressed to its count, the person's KPR line appears and
so does their row in a research release, which an analyst downloads (logged)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import duckdb
import httpx

from libs.access.dev_issuer import DevIssuer
from libs.events.db import make_engine
from libs.events.envelope import Actor
from libs.events.migrations import run_migrations
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.kernel.identifiers import synthetic_number
from libs.web.service import Options
from services.journal.domain import episodes as ep
from services.journal.domain import patients as pt
from services.journal.manifest import MANIFEST as JOURNAL
from services.journal.store import JournalStore
from services.registry_export.app import create_app
from services.registry_export.domain.research import pseudonym
from services.registry_export.kpr_report import run_kpr
from services.registry_export.release import run_release
from services.registry_export.settings import RegistryExportSettings
from services.registry_export.sources import Sources
from services.registry_export.store import DOWNLOADS
from tests.registry_export.conftest import PARTITIONS
from tests.registry_export.test_kpr import SCHEMA

NURSE = Actor(kind="practitioner", id="9144889", organisation="123456785")
WHEN = datetime(2025, 3, 1, 10, tzinfo=UTC)     # the decisions are made in 2025
HOME_CARE = "974600978"
CELL = ("region", "0301", "age", "80-89", "sex", "female", "group", "home")
WAIT_S = 90


async def decide_home_care(journal: JournalStore, slot: int) -> str:
    """Register a woman born 1940 in Oslo, assess her, grant home nursing from 1 March."""
    pid, nid = uuid.uuid4(), synthetic_number(date(1940, 5, 17), slot)
    await journal.register(pid, lambda p: pt.register_patient(p, pt.RegisterPatient(
        national_id=nid, name={"given": "Kari", "family": f"Nordmann{slot}"}, sex="female",
        address={"municipality": "0301"}), WHEN, production=False), NURSE)
    await journal.execute(pid, lambda p: ep.assess_iplos(p, ep.AssessIplos(
        scores=dict.fromkeys(ep.IPLOS_VARIABLES, 3)), "9144889", WHEN), NURSE)
    await journal.execute(pid, lambda p: ep.apply_for_service(p, ep.ApplyForService(
        service_code="15"), WHEN), NURSE)
    applied = (await journal.current(pid))[0].decisions[-1].decision_id
    await journal.execute(pid, lambda p: ep.grant_service(p, ep.GrantService(
        decision_id=applied, from_date=date(2025, 3, 1), scope={"unit": "hours_per_week",
                                                               "amount": 3.5},
        provider=HOME_CARE), WHEN).events, NURSE)
    return nid


def cell(dataset: dict) -> int | None:
    idx, stride = 0, 1
    dims = dataset["id"]
    pos = {d: dataset["dimension"][d]["category"]["index"] for d in dims}
    wanted = dict(zip(CELL[::2], CELL[1::2], strict=True))
    for d, size in reversed(list(zip(dims, dataset["size"], strict=True))):
        idx += pos[d][wanted[d]] * stride
        stride *= size
    return dataset["value"][idx]


async def test_a_decision_reaches_the_cell_the_kpr_line_and_the_release(
        database_url, kafka_bootstrap, sources, make_topics, unique, tmp_path):
    app_id = f"registry-{unique}"
    topics = {**sources, "registry.events": await make_topics("registry.events", 1)}
    jschema, rschema = f"t_{unique}_j", f"t_{unique}_r"
    for s in (jschema, rschema):
        await run_migrations(database_url, s)
    jengine = make_engine(database_url, jschema)
    journal = JournalStore(EventStore(jengine, JOURNAL.registry(), topic_names=topics))
    await journal.setup()
    relay = OutboxRelay(database_url, jschema, kafka_bootstrap, 100, 0.1, 1.0)
    relaying = asyncio.create_task(relay.run())
    settings = RegistryExportSettings(
        database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
        environment="test", dev_key_path=tmp_path / "key.pem", relay_poll_interval_s=0.2,
        registry_out_dir=tmp_path / "out", registry_app_id=app_id, local_dir=tmp_path,
        registry_partitions=PARTITIONS)   # the faust worker runs inside the API process
    app = create_app(settings, Options(schema=rschema, topic_names=topics, telemetry=False))
    issuer = DevIssuer.from_settings(settings)
    org = {"authority": "iso6523-actorid-upis", "ID": "0192:974600951"}
    stats = {"Authorization": "Bearer " + issuer.mint("analyst", {
        "client_id": "ssb-client", "scope": "ehr:registry/statistics", "consumer": org})}
    research = {"Authorization": "Bearer " + issuer.mint("analyst", {
        "client_id": "uio-client", "scope": "ehr:registry/statistics ehr:registry/research",
        "consumer": org})}
    try:
        nids = [await decide_home_care(journal, s) for s in (1, 2)]
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://registry") as api:
            async def table() -> dict:
                r = await api.get("/statistics/point/2025", headers=stats)
                assert r.status_code == 200, r.text
                return r.json()

            await _until(lambda d: "0301" in d["dimension"]["region"]["category"]["index"],
                         table)
            assert cell(await table()) is None          # 2 users: suppressed
            nids.append(await decide_home_care(journal, 3))
            assert cell(await _until(lambda d: cell(d) == 3, table)) == 3

            src = Sources(make_engine(database_url, rschema), app.state.store.registry,
                          kafka_bootstrap, app_id, sources["journal.events"],
                          tmp_path / "out", topics)
            now = datetime.now(UTC)
            kpr = await run_kpr(src, SCHEMA, year=2025, municipality="0301",
                                today=now.date(), now=now)
            xml = kpr.path.read_bytes()
            assert all(f"<Fodselsnummer>{n}</Fodselsnummer>".encode() in xml for n in nids)

            rel = await run_release(src, project="P1", basis="hrl § 19 a, vedtak 26/1",
                                    recipient="UiO", key=b"k" * 32, years=[2025], k=2,
                                    as_of=now.date(), now=now)
            glob = rel.folder / "services" / "**" / "*.parquet"
            got = {p for (p,) in duckdb.connect().execute(
                f"SELECT pseudonym FROM read_parquet('{glob}', hive_partitioning = true) "
                "WHERE municipality = '0301' AND service_code = '15'").fetchall()}
            assert pseudonym(b"k" * 32, nids[2]) in got and len(got) == 3

            part = next(f for f in rel.files if f.endswith(".parquet"))
            url = f"/releases/P1/{now.date().isoformat()}/{part}"
            assert (await api.get(url, headers=stats)).status_code == 403
            assert (await api.get(url)).status_code == 401
            r = await api.get(url, headers=research)
            assert r.status_code == 200 and r.content == (rel.folder / part).read_bytes()
            catalogue = (await api.get("/catalogue", headers=stats)).json()
            assert any(d["dct:identifier"] == "care-users-point-2025"
                       for d in catalogue["dcat:dataset"])
            logged = [p for _, p in await app.state.store.load(DOWNLOADS)]
            assert [(d.client, d.resource.split("?")[0]) for d in logged][-1] == (
                "uio-client", url.lstrip("/"))
            assert {d.client for d in logged} == {"ssb-client", "uio-client"}
            await src.engine.dispose()
    finally:
        relay.stop()
        relaying.cancel()
        await jengine.dispose()


async def _until(check, fetch, timeout_s: float = WAIT_S):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        data = await fetch()
        if check(data):
            return data
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.3)
