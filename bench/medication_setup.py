"""The medication benchmark's set-up (not measured): a CAVE on each patient in the journal,
3 to 5 entries on each medication list ordered through the API, and the baseline's copy of the
ready current lists."""

from __future__ import annotations

import asyncio
from time import perf_counter

import aiohttp

from bench import journal as jn
from bench.infra import pg_connect
from bench.loadgen import CLIENTS
from bench.util import gather_bounded
from libs.events.consistency import ConsistencyToken, wait_until_applied

SETUP_CLIENTS = jn.SETUP_CLIENTS
LISTS = "medication_lists"
# a realistic list of an old patient at home: patient n gets 3 + n % 3 of these, from n on
BASE = ["ID_69D20C22-0364-5D59-A87F-0AFCBD06E6D3",   # Marevan (warfarin)
        "ID_8A6F2781-1ADF-50AF-8151-A680DA9A002F",   # Selo-Zok
        "ID_3257C749-C74A-5F6C-B538-4B28AB11E949",   # Furix
        "ID_5E340F26-617D-5E41-B1B9-637B41A13EA7",   # Zocor
        "ID_A574264A-D850-5369-94C3-C313934C2FFF",   # Paracet 500 mg
        "ID_51880918-B912-5B4F-B068-44B21E91FC2D",   # Levaxin
        "ID_9CB5E2A6-89F7-5DBE-9F4A-21CEB9C6CE0A"]   # Losec
DOSE = {"amount": 1, "unit": "tablett", "route": "oral", "times_per_day": 2}
OVERRIDE = "Vurdert: nytten oppveier risikoen; følges opp ved neste besøk."
CAVE = jn.CAVE  # "Penicillin": decision support warns on every penicillin (J01C) ordered


async def cave(journal: aiohttp.ClientSession, patients: list[str], engine, counter) -> None:
    """A CAVE on each patient in the journal, by the GP (retried while the journal's access
    facts do not yet have the care relation); returns once ``medication_cave`` has them all."""
    tokens: list[str] = []

    async def one(p: str) -> None:
        for attempt in range(300):
            async with journal.post(f"/patients/{p}/critical-info", json=CAVE) as r:
                text = await r.text()
                if r.status == 201:
                    tokens.append(r.headers["X-Consistency-Token"])
                    counter.n += 1
                    return
                assert r.status == 403, (r.status, text)
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the journal refused the GP on {p} for 30 s: {text}")

    await gather_bounded([one(p) for p in patients], SETUP_CLIENTS, 600)
    for t in tokens:
        await wait_until_applied(engine, "medication_cave", ConsistencyToken.decode(t), 120)


async def seed(med: aiohttp.ClientSession, patients: list[str], engine,
               counter) -> tuple[float, dict[str, str]]:
    """3 to 5 entries on each list, ordered one after the other with ``If-Match``; returns
    the orders per second of the set-up and each patient's version, once the read model has
    them all."""
    versions: dict[str, str] = {}
    last: list[str] = []
    n_orders = 0

    async def one(n: int, p: str) -> None:
        nonlocal n_orders
        async with med.get(f"/patients/{p}/medication-list") as r:
            assert r.status == 200, (r.status, await r.text())
            tag = r.headers["ETag"]
        for j in range(3 + n % 3):
            body = {"product_id": BASE[(n + j) % len(BASE)], "dose": DOSE,
                    "override_reason": OVERRIDE, "indication": "fast medisin"}
            async with med.post(f"/patients/{p}/medication-list/prescriptions", json=body,
                                headers={"If-Match": tag}) as r:
                assert r.status == 201, (r.status, await r.text())
                tag, token = r.headers["ETag"], r.headers["X-Consistency-Token"]
            n_orders += 1
            counter.n += 1
        versions[p] = tag
        last.append(token)

    t0 = perf_counter()
    await gather_bounded([one(n, p) for n, p in enumerate(patients)], CLIENTS, 1800)
    rate = n_orders / (perf_counter() - t0)
    for t in last:
        await wait_until_applied(engine, LISTS, ConsistencyToken.decode(t), 120)
    return rate, versions


async def copy_lists(url: str, med_schema: str, raw_schema: str) -> tuple[int, float]:
    """The baseline's tables; its lists are the service's ready current-list documents.
    Returns (average document length, average entries per list)."""
    conn = await pg_connect(url, raw_schema)
    try:
        await conn.execute("""
            CREATE TABLE orders (order_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
                                 doc jsonb NOT NULL);
            CREATE TABLE lists (patient_id uuid PRIMARY KEY, version integer NOT NULL,
                                current text NOT NULL)""")
        await conn.execute(f'INSERT INTO lists SELECT patient_id, version, current::text '
                           f'FROM "{med_schema}".medication_lists')
        await conn.execute("VACUUM ANALYZE lists")
        row = await conn.fetchrow(
            "SELECT avg(length(current))::int, "
            "avg(jsonb_array_length(current::jsonb->'entries'))::float FROM lists")
        return row[0], row[1]
    finally:
        await conn.close()


async def list_size(url: str, med_schema: str) -> float:
    """Entries on the current lists now, on average."""
    conn = await pg_connect(url, med_schema)
    try:
        return await conn.fetchval(
            "SELECT avg(jsonb_array_length(current::jsonb->'entries'))::float "
            "FROM medication_lists")
    finally:
        await conn.close()
