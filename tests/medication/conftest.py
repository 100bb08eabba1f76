"""The medication service with the consent service and the journal on the real stack: one
schema each, one set of fresh topics per test, relays and projections in-process. Care relations
come from the journal's grants and episodes through the consent service; CAVE comes from the
journal's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest

from libs.kernel.time import OSLO
from tests.journal.conftest import GP_OFFICE, Clinic, running_clinic
from tests.support.waiting import passes

PARACET = "ID_A574264A-D850-5369-94C3-C313934C2FFF"     # Paracet tab 500 mg, max 4000 mg/day
MAREVAN = "ID_69D20C22-0364-5D59-A87F-0AFCBD06E6D3"     # Marevan tab 2,5 mg (warfarin)
IBUX = "ID_D48999A0-3F3F-53A1-B486-1F2FB2698B2A"        # Ibux 400 mg: "avoid" with warfarin
APOCILLIN = "ID_D40D2D20-291B-588D-AA8E-0A144C349664"   # fenoksymetylpenicillin, J01CE02
ALBYL = "ID_33DCA837-5D9E-5B94-9C4F-CD91956A0107"       # Albyl-E 75 mg


def soon(minutes: int = 2) -> datetime:
    """An Oslo time a little ahead, whole minutes: a planned time that has not passed yet, so a
    test does not depend on the hour it runs."""
    at = (datetime.now(OSLO) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    return at


def dose(amount: float = 1, unit: str = "tablett", *, at: datetime | None = None,
         **more) -> dict:
    if at is not None:
        more["times_of_day"] = [at.strftime("%H:%M")]
    elif "times_per_day" not in more and not more.get("as_needed"):
        more["times_per_day"] = 2
    return {"amount": amount, "unit": unit, "route": "oral"} | more


class Ward:
    """A patient under home care, the GP's and home care's access, and short-hands for the
    medication API."""

    def __init__(self, clinic: Clinic):
        self.c = clinic
        self.med: httpx.AsyncClient = clinic.medication
        self.token: str | None = None   # the last write's, so reads see it

    def seen(self, r: httpx.Response) -> httpx.Response:
        if token := r.headers.get("X-Consistency-Token"):
            self.token = token
        return r

    async def patient(self) -> tuple[str, str]:
        """A registered patient with home nursing granted and a GP relation; returns (patient
        id, national id) once both can read the medication list and the nurse the journal."""
        patient_id, national_id = await self.c.register()
        await self.c.home_care_granted(patient_id)
        r = await self.c.assign(patient_id, GP_OFFICE, purpose="fastlege")
        assert r.status_code == 201, r.text
        for who in (self.c.nurse(), self.c.gp()):
            await self.until_allowed(who, patient_id)
        # the journal folds the same relations on its own: the nurse writes there next
        await self.c.until_allowed(self.c.nurse(), patient_id)
        return patient_id, national_id

    async def until_allowed(self, headers: dict, patient_id: str, timeout: float = 20) -> None:
        async def allowed() -> None:
            r = await self.med.get(f"/patients/{patient_id}/medication-list", headers=headers)
            assert r.status_code == 200, r.text
        await passes(allowed, timeout_s=timeout)

    async def read(self, patient_id: str, headers: dict | None = None, **params) -> httpx.Response:
        wait = {"X-Consistency-Token": self.token} if self.token else {}
        r = await self.med.get(f"/patients/{patient_id}/medication-list",
                               headers=(headers or self.c.gp()) | wait, params=params)
        assert r.status_code == 200, r.text
        return r

    async def version(self, patient_id: str) -> str:
        return (await self.read(patient_id)).headers["ETag"]

    async def prescribe(self, patient_id: str, product: str, *, headers: dict | None = None,
                        if_match: str | None = None, expect: int = 201,
                        **body) -> httpx.Response:
        tag = if_match or await self.version(patient_id)
        r = await self.med.post(f"/patients/{patient_id}/medication-list/prescriptions",
                                headers=(headers or self.c.gp()) | {"If-Match": tag},
                                json={"product_id": product, "dose": dose()} | body)
        assert r.status_code == expect, r.text
        return self.seen(r)

    async def entry_change(self, patient_id: str, entry_id: str, what: str, body: dict, *,
                           headers: dict | None = None, if_match: str | None = None,
                           expect: int = 200) -> httpx.Response:
        tag = if_match or await self.version(patient_id)
        r = await self.med.post(
            f"/patients/{patient_id}/medication-list/entries/{entry_id}/{what}",
            headers=(headers or self.c.gp()) | {"If-Match": tag}, json=body)
        assert r.status_code == expect, r.text
        return self.seen(r)

    async def give(self, patient_id: str, entry_id: str, body: dict, *,
                   headers: dict | None = None, expect: int = 201) -> httpx.Response:
        r = await self.med.post(
            f"/patients/{patient_id}/medication-list/entries/{entry_id}/administrations",
            headers=headers or self.c.nurse(), json=body)
        assert r.status_code == expect, r.text
        return self.seen(r)


@pytest.fixture
async def ward(database_url, kafka_bootstrap, unique, make_topics,
               tmp_path) -> AsyncIterator[Ward]:
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                              medication=True) as c:
        yield Ward(c)
