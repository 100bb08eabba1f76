"""FHIR export of consents and the access log (services.consent.fhir.mapping): every resource
parses with the fhir.resources R4B models (R4B = R4 for Consent, AuditEvent and Bundle), the
status and outcome mappings, the trust-framework shape of AuditEvent, and the identifier
contract of requirement 6: only the §6 systems, and never an 11-digit number anywhere in the
JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent

from services.consent.fhir import mapping as fhir
from libs.web.fhir import elements
from libs.audit.log import AccessEntry, AccessLogged, entry_for
from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem
from libs.access.model import (Action, Basis, Citizen, Consent, Decision, Declaration,
                               DeclaredBasis, Device, Obligation, Practitioner, Resource, Role,
                               Sector, SectorOfficial)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
# fixed ids whose last group is not all digits: a random uuid4 has 12 digits there now and then
PATIENT = UUID("0190f0a0-0000-7000-8000-00000000a001")
GUARDIAN = UUID("0190f0a0-0000-7000-8000-00000000a002")
EVENT = UUID("0190f0a0-0000-7000-8000-00000000e001")
RELATION = UUID("0190f0a0-0000-7000-8000-00000000c001")
FNR = "31129956715"  # the textbook number (§6): must never reach the export

NURSE = Practitioner(person_id="sub-nurse", hpr="9144889", name="Kari Sykepleier",
                     org_parent="974600951", org_child="974600952", roles=frozenset({Role.nurse}))
SELF = Citizen(person_id="sub-p", patient_id=PATIENT)
NO_RECORD = Citizen(person_id="sub-x", patient_id=None)
SCHOOL = SectorOfficial(person_id="sub-school", sector=Sector.school, org="123456785")
DISPENSER = Device(client_id="dispenser-42")


def consent(start=NOW - DAY, end=None, withdrawn=None, org=None, **kw) -> Consent:
    return Consent(consent_id=UUID("0190f0a0-0000-7000-8000-00000000b001"),
                   sector=kw.pop("sector", Sector.school), recipient_org=org,
                   grantor=kw.pop("grantor", GUARDIAN), grantor_role=kw.pop("role", "guardian"),
                   categories=frozenset({"school_health", "allergies"}),
                   purpose="tilrettelegging i skolen", valid_from=start, valid_to=end,
                   withdrawn_at=withdrawn, **kw)


CONSENTS = {
    "active": (consent(end=NOW + 30 * DAY), "active"),
    "active_open_ended_with_org": (consent(org="123456785"), "active"),
    "withdrawn": (consent(withdrawn=NOW - DAY / 2), "inactive"),
    "withdrawal_later": (consent(withdrawn=NOW + DAY, org="123456785"), "active"),
    "expired": (consent(start=NOW - 10 * DAY, end=NOW - DAY), "inactive"),
    "ends_now": (consent(end=NOW), "inactive"),
    "future": (consent(start=NOW + DAY, org="123456785"), "proposed"),
    "future_but_withdrawn": (consent(start=NOW + DAY, withdrawn=NOW - DAY), "inactive"),
    "no_grantor": (consent(grantor=None, role=None, sector=Sector.nav), "active"),
}


def decision(permit=True, basis=Basis.care_relation, ref=RELATION, reason="care_relation",
             **kw) -> Decision:
    return Decision(permit=permit, reason=reason, message="-", basis=basis, decision_ref=ref,
                    **kw)


def logged(entry: AccessEntry, seq: int = 1, prev: str = "ab" * 32) -> AccessLogged:
    return AccessLogged(**dict(entry), chain=f"{entry.service}:{PATIENT}", seq=seq,
                        prev_hash=prev, hash="cd" * 32)


def _entries() -> dict[str, AccessEntry]:
    read = Resource(patient_id=PATIENT)
    emergency = Resource(patient_id=PATIENT, declaration=Declaration(
        basis=DeclaredBasis.necessity, reason=f"Bevisstløs, fnr {FNR} oppgitt av ambulansen"))
    docs = ("Observation/obs-1", "DocumentReference/doc-1")
    e = {
        "practitioner_permit": entry_for(NURSE, Action.read, read, decision(), service="journal",
                                         resources=docs, purpose="TREAT", now=NOW),
        "practitioner_deny": entry_for(NURSE, Action.read, read, decision(
            permit=False, basis=Basis.none, ref=None, reason="no_care_relation"),
            service="journal", purpose="TREAT", now=NOW),
        "emergency": entry_for(NURSE, Action.read, emergency, decision(
            basis=Basis.emergency, reason="emergency_access",
            obligations=frozenset({Obligation.log, Obligation.mark_emergency})),
            service="journal", resources=docs, purpose="ETREAT", now=NOW),
        "citizen": entry_for(SELF, Action.read, read, decision(basis=Basis.own_record, ref=None,
                                                               reason="own_record"),
                             service="citizen", resources=("record",), now=NOW),
        "citizen_without_record": entry_for(NO_RECORD, Action.read, read, decision(
            permit=False, basis=Basis.none, ref=None, reason="not_found"),
            service="citizen", now=NOW),
        "device": entry_for(DISPENSER, Action.write, read, decision(
            basis=Basis.device_assignment, reason="device_assigned"),
            service="welfare-tech", resources=("Observation/obs-2",), now=NOW),
        "sector": entry_for(SCHOOL, Action.disclose, Resource(
            patient_id=PATIENT, category="school_health", period=(date(2025, 8, 1),
                                                                  date(2026, 6, 30))),
            decision(basis=Basis.consent, reason="consent", hidden=frozenset({"entry-7"})),
            service="consent", purpose="disclosure", resources=("school_health",), now=NOW),
        "system": AccessEntry(service="consent", outcome="permit", reason="log_control",
                              actor_kind="system", actor_id="log-control-job", action="review",
                              accessed_at=NOW),
    }
    return e | {f"{k}_logged": logged(v) for k, v in e.items()} | {
        "genesis_logged": logged(e["practitioner_permit"], prev="0" * 64)}


ENTRIES = _entries()


def audit(name: str, **kw) -> dict:
    return fhir.audit_event_resource(EVENT, PATIENT, ENTRIES[name], **kw)


def r4_rules(res: dict) -> None:
    """What the fhir.resources models do not check: required code sets and the invariants
    ext-1 (value or extensions, not both), dom-2 (no nested contained), dom-3 (contained are
    referenced)."""
    if res["resourceType"] == "Consent":
        assert res["status"] in {"draft", "proposed", "active", "rejected", "inactive",
                                 "entered-in-error"}
        assert res["provision"]["type"] in {"permit", "deny"}
    else:
        assert res["action"] in set("CRUDE") and res["outcome"] in {"0", "4", "8", "12"}
    for c in res.get("contained", ()):
        assert "contained" not in c and f'"#{c["id"]}"' in json.dumps(res)

    def walk(node):
        if isinstance(node, dict):
            for ext in node.get("extension", ()):
                values = [k for k in ext if k.startswith("value")]
                assert ext["url"] and (len(values) == 1) != ("extension" in ext), ext
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(res)


def details(res: dict) -> dict[str, str]:
    return {d["type"]: d["valueString"] for d in res["entity"][0]["detail"]}


# --- Consent -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CONSENTS)
def test_consent_status_and_r4_structure(name):
    c, status = CONSENTS[name]
    res = fhir.consent_resource(PATIENT, c, NOW)
    FhirConsent.model_validate(res)
    r4_rules(res)
    assert res["status"] == status
    assert (status == "active") == c.active(NOW)  # the export never disagrees with the policy
    assert res["id"] == str(c.consent_id) and res["patient"] == {"reference": f"Patient/{PATIENT}"}
    assert res["scope"]["coding"][0]["code"] == "patient-privacy"
    assert res["category"][0]["coding"][0] == {"system": "http://loinc.org", "code": "59284-0",
                                               "display": "Patient Consent"}
    assert res["policyRule"]["coding"][0]["code"] == "OPTIN"
    assert "meta" not in res


def test_consent_provision_names_recipient_categories_purpose_and_period():
    c = consent(end=NOW + 30 * DAY, org="123456785")
    p = fhir.consent_resource(PATIENT, c, NOW)["provision"]
    assert p["type"] == "permit"
    assert p["period"] == {"start": "2026-02-28T12:00:00+00:00", "end": "2026-03-31T12:00:00+00:00"}
    actor = p["actor"][0]
    assert actor["role"]["coding"][0] == {
        "system": fhir.V3_PARTICIPATION, "code": "IRCP", "display": "information recipient"}
    assert actor["reference"]["identifier"] == {"system": IdentifierSystem.ENH,
                                                "value": "123456785"}
    assert actor["extension"][0]["valueCoding"]["code"] == "school"
    assert actor["extension"][0]["valueCoding"]["system"] == fhir.CS_RECIPIENT_SECTOR
    assert [cc["coding"][0]["code"] for cc in p["code"]] == ["allergies", "school_health"]
    assert {cc["coding"][0]["system"] for cc in p["code"]} == {fhir.CS_INFORMATION_CATEGORY}
    assert p["purpose"] == [{"display": "tilrettelegging i skolen"}]


def test_consent_without_org_names_only_the_sector():
    res = fhir.consent_resource(PATIENT, consent(), NOW)
    assert res["provision"]["actor"][0]["reference"] == {"display": "Skole"}
    assert "end" not in res["provision"]["period"]


def test_consent_grantor_withdrawal_and_meta():
    c = consent(withdrawn=NOW - DAY / 2)
    res = fhir.consent_resource(PATIENT, c, NOW, last_updated=NOW - DAY / 2, version=2)
    FhirConsent.model_validate(res)
    assert res["meta"] == {"versionId": "2", "lastUpdated": "2026-03-01T00:00:00+00:00"}
    assert res["performer"] == [{"type": "Patient", "reference": f"Patient/{GUARDIAN}",
                                 "display": "guardian"}]
    assert res["extension"] == [{"url": fhir.EXT_WITHDRAWN_AT,
                                 "valueDateTime": "2026-03-01T00:00:00+00:00"}]
    assert "performer" not in fhir.consent_resource(PATIENT, CONSENTS["no_grantor"][0], NOW)


def test_instants_are_utc_and_a_naive_datetime_counts_as_utc():
    assert elements.instant(datetime(2026, 1, 1, 8, 0)) == "2026-01-01T08:00:00+00:00"
    oslo = timezone(timedelta(hours=1))
    assert elements.instant(datetime(2026, 1, 1, 9, 0, tzinfo=oslo)) == "2026-01-01T08:00:00+00:00"


# --- AuditEvent --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ENTRIES)
def test_every_audit_event_is_valid_r4(name):
    res = audit(name)
    AuditEvent.model_validate(res)
    r4_rules(res)
    assert res["id"] == str(EVENT)
    assert res["type"] == {"system": fhir.DICOM, "code": "110110", "display": "Patient Record"}
    assert res["recorded"] == "2026-03-01T12:00:00+00:00"
    assert res["agent"][0]["requestor"] is True
    assert res["entity"][0]["what"] == {"reference": f"Patient/{PATIENT}"}
    assert res["entity"][0]["role"]["code"] == "1" and res["entity"][0]["type"]["code"] == "1"
    assert res["extension"][0] == {"url": fhir.EXT_AUDIT_PATIENT,
                                   "valueReference": {"reference": f"Patient/{PATIENT}"}}
    assert len(res["entity"]) == 1 + len(ENTRIES[name].resources)
    json.dumps(res)  # plain JSON, no datetimes or UUIDs left


def test_permit_and_deny_outcomes():
    permit, deny = audit("practitioner_permit"), audit("practitioner_deny")
    assert permit["outcome"] == "0" and "outcomeDesc" not in permit
    assert deny["outcome"] == "4" and deny["outcomeDesc"] == "no_care_relation"


def test_practitioner_is_a_contained_practitioner_role_with_hpr_and_enh():
    res = audit("practitioner_permit")
    assert res["agent"][0]["who"] == {"reference": "#user", "type": "PractitionerRole"}
    role, location = res["contained"]
    assert role["practitioner"]["identifier"] == {"system": IdentifierSystem.HPR,
                                                  "value": "9144889"}
    assert role["practitioner"]["display"] == "Kari Sykepleier"
    assert role["organization"]["identifier"] == {"system": IdentifierSystem.ENH,
                                                  "value": "974600951"}
    assert role["location"] == [{"reference": "#point-of-care"}]
    assert location["managingOrganization"]["identifier"]["value"] == "974600952"
    assert res["agent"][0]["role"][0]["coding"][0]["code"] == "nurse"
    assert res["agent"][0]["altId"] == "sub-nurse"
    assert res["source"]["observer"] == {"display": "journal"}


def test_care_relation_gives_treat_and_trust_framework_metadata():
    res = audit("practitioner_permit")
    assert [c["code"] for c in res["purposeOfEvent"][0]["coding"]] == ["TREAT"]
    meta = res["extension"][1]
    assert meta["url"] == fhir.EXT_CARE_RELATION_METADATA
    assert {e["url"]: list(e.values())[1] for e in meta["extension"]} == {
        "decision-ref-id": str(RELATION), "decision-ref-description": "care_relation",
        "toa": int(NOW.timestamp())}
    assert details(res)["decision-ref"] == str(RELATION)
    assert len(audit("practitioner_deny")["extension"]) == 1  # no decision, no metadata


def test_emergency_access_is_etreat_with_the_declared_reason_masked():
    res = audit("emergency")
    codes = [c["code"] for c in res["purposeOfEvent"][0]["coding"]]
    assert codes == ["ETREAT"] and res["purposeOfEvent"][0]["text"] == "ETREAT"
    assert res["purposeOfEvent"][1]["text"] == "Bevisstløs, fnr *********** oppgitt av ambulansen"
    assert details(res)["emergency"] == "true" and details(res)["legal-basis"] == "emergency"
    assert details(audit("practitioner_permit"))["emergency"] == "false"


def test_citizen_device_sector_and_system_agents():
    assert audit("citizen")["agent"][0]["who"] == {"reference": f"Patient/{PATIENT}",
                                                   "type": "Patient"}
    assert audit("citizen_without_record")["agent"][0]["who"] == {"display": "citizen"}
    device = audit("device")
    assert device["agent"][0]["who"] == {"type": "Device", "identifier": {"value": "dispenser-42"}}
    assert device["action"] == "C"
    sector = audit("sector")
    assert sector["agent"][0]["role"][0]["coding"][0]["code"] == "school"
    assert sector["agent"][1] == {"type": {"text": "legal entity"}, "requestor": False, "who": {
        "type": "Organization", "identifier": {"system": IdentifierSystem.ENH,
                                               "value": "123456785"}}}
    assert sector["action"] == "R" and sector["subtype"][0]["code"] == "disclose"
    assert details(sector)["period"] == "2025-08-01/2026-06-30"
    assert details(sector)["hidden"] == "entry-7"
    system = audit("system")
    assert system["agent"] == [{"who": {"display": "log-control-job"}, "requestor": True}]
    assert system["action"] == "E"


def test_entities_list_what_was_made_available():
    ents = audit("practitioner_permit")["entity"][1:]
    assert [e["what"]["reference"] for e in ents] == ["Observation/obs-1",
                                                      "DocumentReference/doc-1"]
    assert ents[0]["type"]["code"] == "Observation"
    assert audit("citizen")["entity"][1] == {"type": {
        "system": fhir.ENTITY_TYPE, "code": "2", "display": "System Object"}, "name": "record"}


def test_chain_fields_only_for_logged_entries_and_recorded_override():
    chained = details(audit("practitioner_permit_logged"))
    assert chained["seq"] == "1" and chained["hash"] == "cd" * 32
    assert chained["prev-hash"] == "ab" * 32 and chained["chain"] == f"journal:{PATIENT}"
    assert "hash" not in details(audit("practitioner_permit"))
    later = NOW + timedelta(seconds=3)
    assert audit("practitioner_permit", recorded=later)["recorded"] == later.isoformat()


# --- Bundle ------------------------------------------------------------------------------------

def test_searchset_bundle():
    resources = [fhir.consent_resource(PATIENT, c, NOW) for c, _ in CONSENTS.values()][:2]
    resources.append(audit("practitioner_permit_logged"))
    b = elements.searchset(resources, "https://ehr.example.no/fhir/", total=7,
                       next_url="https://ehr.example.no/fhir/Consent?_page_token=x2")
    Bundle.model_validate(b)
    assert b["type"] == "searchset" and b["total"] == 7
    assert b["link"] == [{"relation": "next",
                          "url": "https://ehr.example.no/fhir/Consent?_page_token=x2"}]
    assert b["entry"][2]["fullUrl"] == f"https://ehr.example.no/fhir/AuditEvent/{EVENT}"
    assert [e["search"]["mode"] for e in b["entry"]] == ["match"] * 3
    last = elements.searchset([], "https://ehr.example.no/fhir")
    Bundle.model_validate(last)
    assert "link" not in last and "total" not in last and "entry" not in last   # no []


# --- requirement 6: identifier systems, and no national id ever --------------------------------

def _all_exports() -> list[dict]:
    out = [fhir.consent_resource(PATIENT, c, NOW, last_updated=NOW, version=1)
           for c, _ in CONSENTS.values()]
    out += [audit(name) for name in ENTRIES]
    return out + [elements.searchset(out, "https://ehr.example.no/fhir", total=len(out))]


def _identifier_systems(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        ident = node.get("identifier")
        for i in ident if isinstance(ident, list) else [ident] if ident else []:
            if "system" in i:
                found.append(i["system"])
        for v in node.values():
            found += _identifier_systems(v)
    elif isinstance(node, list):
        for v in node:
            found += _identifier_systems(v)
    return found


def test_only_section_6_identifier_systems_are_emitted():
    assert fhir.SYSTEMS_USED <= ALL_SYSTEMS
    found = set(_identifier_systems(_all_exports()))
    assert found <= ALL_SYSTEMS
    assert found == fhir.SYSTEMS_USED  # SYSTEMS_USED is exact: every system in it is exercised


def test_no_eleven_digit_run_anywhere():
    text = json.dumps(_all_exports(), ensure_ascii=False)
    # chain hashes are 64 hex digits: a genesis prev_hash is 64 zeros, and a real hash has an
    # 11-digit decimal run about one time in three. They are hashes, not person ids.
    without_hashes = re.sub(r'"[0-9a-f]{64}"', '""', text)
    assert not re.search(r"\d{11}", without_hashes)
    assert FNR not in text


def test_the_digit_mask_catches_longer_runs_too():
    assert elements.text("ref 123456789012 og 1234567890") == "ref ************ og 1234567890"
