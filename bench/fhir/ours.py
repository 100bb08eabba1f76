"""Our side of the FHIR benchmark: the consent service, the journal and the medication service as
deployed, each its API (and access logger) in one process and its outbox relay and projections in a
second (``bench.servers``), on one set of fresh topics and their own schemas, behind the one FHIR
base (``ehr gateway``: Debian's nginx with the config rendered from the routing map), as ``make
run`` runs them. The client is a home-care nurse (a development token): the transactions she posts
register patients, and the consent service's bridge gives her unit a care relation to each, as it
does for any professional who registers a patient."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import loadgen as lg
from bench.fhir import cpu
from bench.fhir.workload import FHIR_JSON, Known, People, Side, _ids, transaction
from bench.infra import Deadline, Resources, unique
from bench.util import gather_bounded
from cli.gateway import render, running, start, stop, write
from cli.manifests import MANIFESTS
from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings
from libs.devstack.procs import free_port

TOPICS = ("consent.events", "audit.access", "journal.events", "welfare.events",
          "medication.events")   # every topic the three services' projections read
SERVICES = ("consent", "journal", "medication")
HOME_CARE, MUNICIPALITY = "974600978", "123456785"
TTL = 6 * 3600


def nurse_token(key: Path) -> str:
    issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
    return issuer.mint_practitioner("9144889", MUNICIPALITY, HOME_CARE, (Role.nurse,),
                                    "Nina Sykepleier", ttl=TTL)


async def start_gateway(upstreams: dict[str, str], prefix: Path) -> tuple[str, int]:
    """nginx on a free port in front of ``upstreams``; (FHIR base, master pid)."""
    listen = f"127.0.0.1:{free_port()}"
    write(prefix, await render(MANIFESTS, upstreams, listen=listen,
                               base_url=f"http://{listen}/fhir"))
    await asyncio.to_thread(start, prefix)
    pid = running(prefix)
    assert pid is not None
    return f"http://{listen}/fhir", pid


def stack_roots(database_url: str, bootstrap: str) -> dict[int, str]:
    """The PostgreSQL server and the Kafka broker of the run, by the ports they listen on."""
    from urllib.parse import urlsplit
    roots = {}
    pg = cpu.listener_pid(urlsplit(database_url.replace("+asyncpg", "")).port or 5432)
    kafka = cpu.listener_pid(int(bootstrap.split(",")[0].rsplit(":", 1)[1]))
    if pg is not None:
        roots[pg] = cpu.POSTGRES
    if kafka is not None:
        roots[kafka] = cpu.KAFKA
    return roots


def python_roles() -> list[str]:
    """The roles of our Python processes (what ``--profile-of`` may name), as
    ``bench.loadgen.Server.roles`` names them."""
    return [r for s in SERVICES for r in (s, f"{s}: relay and projections")]


@dataclass
class Ours:
    side: Side
    processes: cpu.SideProcesses


@contextlib.asynccontextmanager
async def ours(url: str, bootstrap: str, work: Path,
               *others: str | None) -> AsyncIterator[Ours]:
    """Our three services as deployed; ``others``: the databases of the other sides on the
    same server (HAPI's, the floor's), whose backends are not ours."""
    uid, res = unique(), Resources(url, bootstrap)
    key = work / "key.pem"
    servers, prefix = {}, work / "gateway"
    try:
        schemas = {s: await res.schema(f"bench_fhir_{uid}_{s}") for s in SERVICES}
        topics = {t: await res.topic(f"bench.{t}.{uid}") for t in TOPICS}
        ports = {s: free_port() for s in SERVICES}
        for s in SERVICES:
            servers[s] = await lg.start_server(s, {
                "url": url, "bootstrap": bootstrap, "topics": topics, "key": str(key),
                "schema": schemas[s], "port": ports[s]}, work / f"{s}.log")
        base, nginx = await start_gateway({s: f"127.0.0.1:{p}" for s, p in ports.items()},
                                          prefix)
        roots = {pid: role for name, c in servers.items() for pid, role in c.roles(name).items()}
        roots |= {nginx: "gateway (nginx)"}
        roots |= stack_roots(url, bootstrap)
        yield Ours(Side("ours", base, {"Authorization": f"Bearer {nurse_token(key)}"}),
                   cpu.SideProcesses(roots, cpu.backend_of_none(*others)))
    finally:
        stop(prefix)
        for s in servers.values():
            await s.stop()
        await res.cleanup()


async def set_up(http: httpx.AsyncClient, side: Side, people: People, patients: int,
                 counter=None) -> Known:
    """``patients`` transactions (each 1 Patient + 10 Observations); returns once the client
    may read every one of them (ours: once the care relation the registration gives her unit
    has reached the journal)."""
    known = Known()

    async def one(n: int) -> None:
        r = await http.post("", json=transaction(people.next(), n),
                            headers={"Content-Type": FHIR_JSON})
        assert r.status_code == 200, (side.name, r.status_code, r.text[:500])
        pid, obs = _ids(r.json())
        deadline = Deadline(120, f"{side.name}: patient {n} readable")
        while (await http.get(f"Observation/{obs[0]}")).status_code != 200:
            deadline.check()
            await asyncio.sleep(0.2)
        known.patients.append(pid)
        known.observations += obs
        if counter is not None:
            counter.n += 1

    await gather_bounded([one(n) for n in range(patients)], 4, 600)
    return known
