"""The workspace on the real stack: the consent service, the journal and the medication service
(``tests/journal/conftest.running_clinic``) on real ports, the workspace beside them on its own
port (``localhost``, so its ``__Host-`` cookies work over http in Chromium), and a home-care
round of one patient: today's visits, a care plan, vital signs over time, a CAVE, a note and
a medication with a dose planned today."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from libs.devstack.procs import free_port
from libs.web.service import Options
from services.workspace.app import create_app
from services.workspace.settings import WorkspaceSettings
from tests.journal.conftest import HOME_CARE, Clinic, running_clinic
from tests.medication.conftest import PARACET, Ward, dose, soon
from tests.support.browser import served
from tests.support.waiting import passes

NAME = "Astrid Hansen"


@dataclass
class Round:
    """The stack, the workspace's URL, and the patient on today's round."""
    c: Clinic
    url: str
    patient_id: str = ""
    national_id: str = ""
    ids: dict = field(default_factory=dict)

    @property
    def ward(self) -> Ward:
        return Ward(self.c)

    async def journal(self, path: str, body: dict, headers: dict | None = None) -> dict:
        r = await self.c.journal.post(f"/patients/{self.patient_id}{path}",
                                      headers=headers or self.c.nurse(), json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def prepare(self) -> None:
        """Register, grant home nursing (the unit's care relation), then the day's record."""
        self.patient_id, self.national_id = await self.ward.patient()
        now = datetime.now(UTC)
        plan = (await self.journal("/care-plans", {"title": "Hjemmesykepleie"}))["care_plan_id"]
        await self.journal(f"/care-plans/{plan}/goals", {"description": "Bor trygt hjemme"})
        await self.journal(f"/care-plans/{plan}/interventions",
                           {"description": "Medisinhjelp morgen", "frequency": "daglig"})
        self.ids["visit"] = (await self.journal("/tasks", {
            "kind": "home_care_visit", "title": "Morgenbesøk: medisiner", "unit": HOME_CARE,
            "due_at": (now - timedelta(minutes=20)).isoformat(),
            "care_plan_id": plan}))["task_id"]
        for minutes, pulse in ((90, 72), (60, 80), (30, 76)):
            await self.journal("/observations", {
                "code": "8867-4", "value": pulse,
                "effective_at": (now - timedelta(minutes=minutes)).isoformat()})
        await self.journal("/critical-info", {
            "category": "drug_reaction", "substance": "Penicillin",
            "reaction": "Utslett og hevelse", "severity": "severe"})
        self.ids["note"] = (await self.journal("/notes?sign=true", {
            "kind": "home_care_visit", "text": "Rolig natt, spiste frokost."}))["note_id"]
        r = await self.ward.prescribe(self.patient_id, PARACET, dose=dose(2, at=soon(1)),
                                      indication="Smerter")
        self.ids["paracet"] = r.json()["entry_id"]

        async def listed() -> None:   # the workspace reads the chart without the write's token
            r = await self.ward.read(self.patient_id, self.c.nurse())
            assert self.ids["paracet"] in r.text, r.text
        await passes(listed)

    async def lock(self, entry_id: str) -> None:
        """The patient locks an entry (through the consent service), and the journal has it."""
        r = await self.c.consent.post(f"/patients/{self.patient_id}/restrictions",
                                      headers=self.c.citizen(self.national_id),
                                      json={"target": entry_id})
        assert r.status_code == 201, r.text
        seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}

        async def withheld() -> None:
            r = await self.c.journal.get(f"/patients/{self.patient_id}/notes",
                                         headers=self.c.nurse() | seen)
            assert any(n.get("withheld") for n in r.json()["notes"]), r.text
        await passes(withheld)


@asynccontextmanager
async def running_workspace(database_url, kafka_bootstrap, unique, make_topics,
                            tmp_path) -> AsyncIterator[Round]:
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                              medication=True) as c, AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(served(app))
                for app in (c.journal_app, c.medication_app, c.consent_app)]
        port = free_port()
        s = WorkspaceSettings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                              environment="test", dev_key_path=tmp_path / "key.pem",
                              relay_poll_interval_s=0.2,
                              workspace_public_url=f"http://localhost:{port}",
                              workspace_journal_url=urls[0], workspace_medication_url=urls[1],
                              workspace_consent_url=urls[2])
        app = create_app(s, Options(schema=f"t_{unique}_workspace", telemetry=False))
        await stack.enter_async_context(app.router.lifespan_context(app))
        url = await stack.enter_async_context(served(app, port=port, host="localhost"))
        yield Round(c, url)


@pytest.fixture
async def day(database_url, kafka_bootstrap, unique, make_topics, tmp_path) -> AsyncIterator[Round]:
    async with running_workspace(database_url, kafka_bootstrap, unique, make_topics,
                                 tmp_path) as r:
        await r.prepare()
        yield r
