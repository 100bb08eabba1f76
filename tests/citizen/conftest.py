"""The citizen service on the real stack, beside the consent service, the journal and the
medication service (``tests/journal/conftest.running_clinic``): its own schema, the same fresh
topics, projections and relay in-process. ``Portal.serve()`` also puts the citizen service, the
consent service and the journal on real ports (uvicorn, in this event loop), for the browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from libs.devstack.procs import free_port
from libs.web.service import Options
from services.citizen.app import create_app
from services.citizen.settings import CitizenSettings
from tests.journal.conftest import Clinic, running_clinic
from tests.medication.conftest import Ward
from tests.support.browser import served
from tests.support.waiting import passes

TOPICS = ("consent.events", "audit.access", "journal.events", "medication.events",
          "welfare.events")


@dataclass
class Portal:
    c: Clinic
    api: httpx.AsyncClient
    app: object
    url: str = ""
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def ward(self) -> Ward:
        return Ward(self.c)

    async def kari(self) -> tuple[str, str]:
        """A registered patient with home nursing and a GP (Kari); (patient id, national id)
        once the citizen service knows her."""
        patient_id, pid = await self.ward.patient()
        await self.until_known(pid, patient_id)
        return patient_id, pid

    async def until_known(self, pid: str, patient_id: str) -> None:
        async def known() -> None:
            r = await self.api.get("/me", headers=self.c.citizen(pid))
            assert r.status_code == 200 and r.json()["patient_id"] == patient_id, r.text
        await passes(known, timeout_s=30)

    async def signed_note(self, patient_id: str, text: str) -> str:
        r = await self.c.journal.post(f"/patients/{patient_id}/notes?sign=true",
                                      headers=self.c.nurse(),
                                      json={"kind": "nursing", "text": text})
        assert r.status_code == 201, r.text
        return r.json()["note_id"]


@asynccontextmanager
async def running_portal(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                         *, serve: bool = False, **settings) -> AsyncIterator[Portal]:
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                              medication=True) as c, AsyncExitStack() as stack:
        topics = {t: await make_topics(t, 3) for t in TOPICS}
        consent_url, journal_url, port = "http://127.0.0.1:9", "http://127.0.0.1:9", free_port()
        if serve:
            consent_url = await stack.enter_async_context(served(c.consent_app))
            journal_url = await stack.enter_async_context(served(c.journal_app))
        s = CitizenSettings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                            environment="test", dev_key_path=tmp_path / "key.pem",
                            relay_poll_interval_s=0.2, consistency_wait_s=15,
                            citizen_public_url=f"http://localhost:{port}",
                            citizen_consent_url=consent_url,
                            citizen_journal_url=journal_url, **settings)
        app = create_app(s, Options(schema=f"t_{unique}_citizen", topic_names=topics,
                                    telemetry=False))
        await stack.enter_async_context(app.router.lifespan_context(app))
        api = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://citizen"))
        portal = Portal(c, api, app)
        if serve:
            portal.url = await stack.enter_async_context(served(app, port=port,
                                                                host="localhost"))
        yield portal


@pytest.fixture
async def portal(database_url, kafka_bootstrap, unique, make_topics,
                 tmp_path) -> AsyncIterator[Portal]:
    async with running_portal(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as p:
        yield p


@pytest.fixture
async def served_portal(database_url, kafka_bootstrap, unique, make_topics,
                        tmp_path) -> AsyncIterator[Portal]:
    """The portal and the consent service on real ports, for the browser."""
    async with running_portal(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                              serve=True) as p:
        yield p
