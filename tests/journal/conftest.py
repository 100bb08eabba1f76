"""The journal and the consent service together on the real stack: their own schemas and one set
of topics per test, relays and projections in-process, tokens from the development issuer.
The consent service turns the journal's episodes and grants into care relations; the journal
reads them back from ``consent.events`` like any other service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from libs.access.model import Role
from libs.config import Settings
from libs.events.migrations import run_migrations
from libs.web.service import Options
from services.consent.app import create_app as consent_app
from services.journal.app import create_app as journal_app
from services.journal.domain.episodes import IPLOS_VARIABLES
from services.medication.app import create_app as medication_app
from tests.support.waiting import passes

HOME_CARE = "974600978"       # hjemmetjenesten (unit)
MUNICIPALITY = "123456785"    # the municipality (legal entity)
ALLOCATION = "889640782"      # tildelingskontoret (unit)
LEGEVAKT = "987654325"
LEGEVAKT_ORG = "999999999"
GP_OFFICE = "889640790"

HOME_NURSING = "15"           # IPLOS service code: helsetjenester i hjemmet


def iplos_scores(score: int = 3) -> dict[str, int]:
    return dict.fromkeys(IPLOS_VARIABLES, score)


@dataclass
class Clinic:
    journal: httpx.AsyncClient
    consent: httpx.AsyncClient
    issuer: DevIssuer
    journal_app: object
    consent_app: object
    medication: httpx.AsyncClient | None = None
    medication_app: object = None
    _slot: list[int] = field(default_factory=lambda: [0])

    def pro(self, hpr: str, unit: str, roles=(Role.nurse,), org: str = MUNICIPALITY,
            name: str = "Helse Personell") -> dict[str, str]:
        return self.bearer(self.issuer.mint_practitioner(hpr, org, unit, roles, name))

    def nurse(self, hpr: str = "9144889") -> dict[str, str]:
        return self.pro(hpr, HOME_CARE, (Role.nurse,), name="Nina Sykepleier")

    def case_worker(self) -> dict[str, str]:
        return self.pro("5550001", ALLOCATION, (Role.other,), name="Kari Saksbehandler")

    def gp(self) -> dict[str, str]:
        return self.pro("7654321", GP_OFFICE, (Role.physician, Role.prescriber),
                        name="Lege Fastlege")

    def legevakt(self) -> dict[str, str]:
        return self.pro("1112223", LEGEVAKT, (Role.physician,), org=LEGEVAKT_ORG,
                        name="Lege Legevakt")

    def citizen(self, pid: str) -> dict[str, str]:
        return self.bearer(self.issuer.mint_citizen(pid))

    def leader(self, unit: str, org: str = MUNICIPALITY) -> dict[str, str]:
        return self.pro("1234567", unit, (Role.unit_leader,), org=org, name="Enhets Leder")

    async def assign(self, patient_id: str, unit: str, org: str = MUNICIPALITY, *,
                     purpose: str = "behandling", basis: str = "referral") -> httpx.Response:
        """The unit's leader assigns it a care relation (AC3: the data controller assigns
        access; issue 12). Relations otherwise come from the journal's facts."""
        return await self.consent.post(
            f"/patients/{patient_id}/care-relations", headers=self.leader(unit, org),
            json={"purpose": purpose, "basis": basis, "reason": "tildelt av enhetsleder"})

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def synthetic(self, born: date = date(1941, 3, 2)) -> str:
        self._slot[0] += 1
        return synthetic_number(born, self._slot[0])

    async def register(self, headers: dict | None = None, born: date = date(1941, 3, 2),
                       **details) -> tuple[str, str]:
        """Register a patient (as the case worker); returns (patient_id, national id)."""
        pid = self.synthetic(born)
        body = {"national_id": pid, "name": {"given": "Astrid", "family": "Hansen"},
                "sex": "female", "address": {"lines": ["Storgata 1"], "postal_code": "0155",
                                             "city": "Oslo", "municipality": "0301"}} | details
        r = await self.journal.post("/patients", json=body, headers=headers or self.case_worker())
        assert r.status_code == 201, r.text
        return r.json()["patient_id"], pid

    async def can(self, headers: dict, patient_id: str, path: str = "") -> bool:
        r = await self.journal.get(f"/patients/{patient_id}{path}", headers=headers)
        assert r.status_code in (200, 403), r.text
        return r.status_code == 200

    async def until_allowed(self, headers: dict, patient_id: str, timeout: float = 20) -> None:
        """Wait until a care relation made by the consent service reaches the journal's facts
        and the consent service's own (each folds the relation from the stream on its own)."""
        async def allowed() -> None:
            assert await self.can(headers, patient_id)
            r = await self.consent.get(f"/patients/{patient_id}/consents", headers=headers)
            assert r.status_code == 200, r.text
        await passes(allowed, timeout_s=timeout)

    async def home_care_granted(self, patient_id: str) -> str:
        """Apply, assess and grant home nursing (IPLOS service 'hjemmesykepleie') provided by
        the home-care unit; returns the decision id."""
        cw = self.case_worker()
        await self.until_allowed(cw, patient_id)
        r = await self.journal.post(f"/patients/{patient_id}/services", headers=cw,
                                    json={"service_code": HOME_NURSING})
        assert r.status_code == 201, r.text
        decision = r.json()["decision_id"]
        r = await self.journal.post(f"/patients/{patient_id}/assessments", headers=cw,
                                    json={"scores": iplos_scores()})
        assert r.status_code == 201, r.text
        today = datetime.now(UTC).date()
        r = await self.journal.post(
            f"/patients/{patient_id}/services/{decision}/grant", headers=cw,
            json={"from_date": today.isoformat(),
                  "to_date": (today + timedelta(days=180)).isoformat(),
                  "scope": {"unit": "hours_per_week", "amount": 3.5}, "provider": HOME_CARE})
        assert r.status_code == 200, r.text
        return decision


@asynccontextmanager
async def running_clinic(database_url: str, kafka_bootstrap: str, unique: str, make_topics,
                         tmp_path, *, medication: bool = False) -> AsyncIterator[Clinic]:
    """The consent service and the journal (and the medication service when asked), each with
    its own schema, on one set of fresh topics."""
    # welfare.events: the journal reads welfare technology's tasks and measurements from it
    names = ("consent.events", "audit.access", "journal.events", "welfare.events") + (
        ("medication.events",) if medication else ())
    topics = {t: await make_topics(t, 3) for t in names}
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                        environment="test", dev_key_path=tmp_path / "key.pem",
                        relay_poll_interval_s=0.2, consistency_wait_s=15)
    services = ("consent", "journal") + (("medication",) if medication else ())
    schemas = {name: f"t_{unique}_{name}" for name in services}
    for s in schemas.values():
        await run_migrations(database_url, s)
    capp = consent_app(settings, Options(schema=schemas["consent"], topic_names=topics,
                                         telemetry=False))
    japp = journal_app(settings, Options(schema=schemas["journal"], topic_names=topics,
                                         telemetry=False))
    mapp = None
    if medication:
        mapp = medication_app(settings, Options(schema=schemas["medication"],
                                                topic_names=topics, telemetry=False))
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in (("consent", capp), ("journal", japp), ("medication", mapp)):
            if app is None:
                continue
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"))
        yield Clinic(clients["journal"], clients["consent"], DevIssuer.from_settings(settings),
                     japp, capp, clients.get("medication"), mapp)


@pytest.fixture
async def clinic(database_url, kafka_bootstrap, unique, make_topics,
                 tmp_path) -> AsyncIterator[Clinic]:
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as c:
        yield c
