"""Our own code systems: one canonical base that is not a placeholder, a CodeSystem resource
(valid R4) for every code system a mapping writes, each concept with the Norwegian display the
record shows, and read and search over them. Pure: the routes run in-process."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fhir.resources.codesystem import CodeSystem

from libs.web.fhir import elements
from libs.web.fhir.codesystems import code_system, code_system_routes
from services.consent.fhir import mapping as consent
from services.journal.domain.clinical_state import CATEGORY_NO
from services.journal.fhir import elements as journal
from services.journal.fhir.codesystems import CODE_SYSTEMS

WRITTEN = {journal.CS_EPISODE_KIND, journal.CS_NOTE_KIND, journal.CS_CRITICAL_CATEGORY,
           journal.CS_CRITICAL_STATUS, journal.CS_TASK_KIND, consent.CS_RECIPIENT_SECTOR,
           consent.CS_ACCESS_ACTION, consent.CS_ROLE}


def test_the_canonical_base_is_the_projects_own_address():
    assert elements.CODE_BASE.startswith("https://") and "example" not in elements.CODE_BASE
    assert all(url.startswith(f"{elements.CODE_BASE}/CodeSystem/") for url in WRITTEN)


def test_every_code_system_a_mapping_writes_is_published_as_a_valid_code_system():
    published = {cs.url: code_system(cs) for cs in CODE_SYSTEMS}
    assert WRITTEN <= set(published), WRITTEN - set(published)
    for url, resource in published.items():
        model = CodeSystem.model_validate(resource)
        assert model.url == url and model.content == "complete"
        assert model.count == len(model.concept) > 0
    category = published[journal.CS_CRITICAL_CATEGORY]["concept"]
    assert {c["code"]: c["display"] for c in category} == CATEGORY_NO


async def test_code_systems_are_read_by_id_and_found_by_url():
    app = FastAPI()
    app.include_router(code_system_routes(CODE_SYSTEMS), prefix="/fhir")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://ehr") as http:
        r = await http.get("/fhir/CodeSystem/task-kind")
        assert r.status_code == 200 and r.json()["url"] == journal.CS_TASK_KIND
        assert r.json()["text"]["status"] == "generated"
        r = await http.get("/fhir/CodeSystem", params={"url": f"{consent.CS_ROLE}|2026-12-03"})
        assert [e["resource"]["id"] for e in r.json()["entry"]] == ["role"]
        assert r.json()["entry"][0]["fullUrl"] == "http://ehr/fhir/CodeSystem/role"
        r = await http.get("/fhir/CodeSystem")
        assert r.json()["total"] == len(CODE_SYSTEMS)
        r = await http.get("/fhir/CodeSystem", params={"url": "https://ehr.example.no/x"})
        assert r.json()["total"] == 0 and "entry" not in r.json()
        r = await http.get("/fhir/CodeSystem/nothing-here")
        assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
