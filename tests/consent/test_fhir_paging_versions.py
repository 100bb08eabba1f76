"""The consent service's FHIR searches page like the other services': a true ``total`` (every
match, not the page), ``self``/``next``/``previous`` links that walk every match once; Consent
and AuditEvent carry ``meta.versionId`` and the matching ETag (a withdrawal is version 2)."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.bundle import Bundle

from tests.consent.conftest import NAV_ORG, Consent
from tests.support.waiting import passes


def token(r) -> dict[str, str]:
    assert r.status_code in (200, 201), r.text
    return {"X-Consistency-Token": r.headers["X-Consistency-Token"]}


async def walk(consent: Consent, first: str, headers: dict) -> tuple[list[dict], list[dict]]:
    """Follow ``next`` from ``first``; returns (every page, every resource)."""
    pages, url = [], first
    while url:
        r = await consent.client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        Bundle.model_validate(r.json())
        pages.append(r.json())
        url = next((link["url"] for link in r.json()["link"] if link["relation"] == "next"), None)
        assert len(pages) <= 10, "next links that never end"
    return pages, [e["resource"] for p in pages for e in p.get("entry", [])]


async def test_consent_search_pages_with_a_true_total_and_versions(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(date(1980, 4, 12))
    me = consent.citizen(pid)
    seen = {}
    for purpose in ("arbeidsavklaring", "sykepenger", "uføretrygd", "tiltak", "oppfølging"):
        seen = token(await c.post(f"/patients/{patient}/consents", headers=me | seen, json={
            "sector": "nav", "recipient_org": NAV_ORG, "categories": ["home_care"],
            "purpose": purpose}))

    pages, found = await walk(consent, f"/fhir/Consent?patient={patient}&_count=2", me | seen)
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [len(p["entry"]) for p in pages] == [2, 2, 1]
    assert len({r["id"] for r in found}) == 5
    assert {r["provision"]["purpose"][0]["display"] for r in found} == {
        "arbeidsavklaring", "sykepenger", "uføretrygd", "tiltak", "oppfølging"}
    relations = [[link["relation"] for link in p["link"]] for p in pages]
    assert relations == [["self", "next"], ["self", "next", "previous"], ["self", "previous"]]
    assert all(r["meta"]["versionId"] == "1" for r in found)

    # everything at once: the total is still every match, and there is no next page
    r = await c.get("/fhir/Consent", headers=me | seen,
                    params={"patient": patient, "_count": 1000})
    assert r.json()["total"] == 5 and len(r.json()["entry"]) == 5
    assert [link["relation"] for link in r.json()["link"]] == ["self"]

    # read: the ETag is the version; a withdrawal makes version 2
    one = found[0]["id"]
    r = await c.get(f"/fhir/Consent/{one}", headers=me | seen)
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'
    seen = token(await c.post(f"/patients/{patient}/consents/{one}/withdraw", headers=me))
    r = await c.get(f"/fhir/Consent/{one}", headers=me | seen)
    assert r.headers["ETag"] == 'W/"2"' and r.json()["meta"]["versionId"] == "2"
    assert r.json()["status"] == "inactive" and "Last-Modified" in r.headers


async def test_audit_event_search_pages_and_entries_are_version_one(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(date(1975, 9, 3))
    me = consent.citizen(pid)
    for _ in range(3):     # each read is logged
        r = await c.get(f"/patients/{patient}/consents", headers=me)
        assert r.status_code == 200, r.text

    async def logged() -> None:
        r = await c.get("/fhir/AuditEvent", headers=me, params={"patient": patient})
        assert r.status_code == 200 and r.json()["total"] >= 3, r.text
    await passes(logged, timeout_s=30)
    pages, found = await walk(consent, f"/fhir/AuditEvent?patient={patient}&_count=1", me)
    assert len(pages) >= 3 and all(p["total"] >= 3 for p in pages)
    assert len({r["id"] for r in found}) == len(found), "an entry on two pages"
    r = await c.get("/fhir/AuditEvent", headers=me, params={"patient": patient,
                                                            "_cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome"
    r = await c.get(f"/fhir/AuditEvent/{found[0]['id']}", headers=me)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == 'W/"1"' and r.json()["meta"]["versionId"] == "1"
    assert r.json()["meta"]["lastUpdated"] == r.json()["recorded"]
