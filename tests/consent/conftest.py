"""The consent service on the real stack: its own schema and topics per test, the relay and its
projections running in-process (as in production), tokens from the development issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from libs.access.model import Role
from libs.config import Settings
from libs.events.consistency import ConsistencyToken, wait_until_applied
from services.consent.app import Options, create_app

# valid organisation numbers (mod 11)
HOME_CARE = "974600978"
MUNICIPALITY = "123456785"
LEGEVAKT = "987654325"
LEGEVAKT_ORG = "999999999"
SCHOOL_ORG = "889640782"
NAV_ORG = "889640790"


def synthetic(born: date, slot: int = 0) -> str:
    return synthetic_number(born, slot)


@dataclass
class Consent:
    client: httpx.AsyncClient
    issuer: DevIssuer
    app: object

    def nurse(self, hpr: str = "9144889", unit: str = HOME_CARE, name: str = "Nina Sykepleier",
              roles=(Role.nurse,)) -> dict[str, str]:
        return self.bearer(self.issuer.mint_practitioner(hpr, MUNICIPALITY, unit, roles, name))

    def doctor(self, hpr: str = "7654321", unit: str = LEGEVAKT,
               roles=(Role.physician,)) -> dict[str, str]:
        return self.bearer(self.issuer.mint_practitioner(hpr, LEGEVAKT_ORG, unit, roles,
                                                         "Lege Legevakt"))

    def leader(self, unit: str = LEGEVAKT, org: str = LEGEVAKT_ORG) -> dict[str, str]:
        return self.bearer(self.issuer.mint_practitioner("1234567", org, unit,
                                                         (Role.unit_leader,), "Leder"))

    def citizen(self, pid: str, acting_for=None, acr: str = "idporten-loa-high"):
        h = self.bearer(self.issuer.mint_citizen(pid, acr=acr))
        return h | ({"X-Acting-For": str(acting_for)} if acting_for else {})

    def sector(self, sector: str, org: str) -> dict[str, str]:
        return self.bearer(self.issuer.mint_sector(sector, org))

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def register(self, born: date, slot: int = 0) -> tuple[str, str]:
        """Register a person as the nurse; returns (patient_id, national id)."""
        pid = synthetic(born, slot)
        r = await self.client.post("/persons", json={"national_id": pid}, headers=self.nurse())
        assert r.status_code == 201, r.text
        # the person logs in later; here, at once: wait until their identity is projected
        await wait_until_applied(self.app.state.engine, "access_facts", ConsistencyToken.decode(
            r.headers["X-Consistency-Token"]), 15)
        return r.json()["patient_id"], pid

    async def relate(self, patient_id: str, headers: dict | None = None) -> str:
        """The home-care leader assigns a care relation to the nurse's unit (AC3); returns the
        consistency token."""
        r = await self.client.post(f"/patients/{patient_id}/care-relations",
                                   json={"purpose": "home care", "basis": "service_decision",
                                         "reason": "hjemmesykepleie etter vedtak"},
                                   headers=headers or self.leader(HOME_CARE, MUNICIPALITY))
        assert r.status_code == 201, r.text
        return r.headers["X-Consistency-Token"]


@pytest.fixture
async def consent(database_url, kafka_bootstrap, schema, make_topics,
                  tmp_path) -> AsyncIterator[Consent]:
    topics = {"consent.events": await make_topics("consent.events", 3),
              "audit.access": await make_topics("audit.access", 3),
              "journal.events": await make_topics("journal.events", 3)}
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                        environment="test", dev_key_path=tmp_path / "key.pem",
                        relay_poll_interval_s=0.2, consistency_wait_s=15)
    app = create_app(settings, Options(schema=schema, topic_names=topics, telemetry=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://consent") as client:
            yield Consent(client, DevIssuer.from_settings(settings), app)
