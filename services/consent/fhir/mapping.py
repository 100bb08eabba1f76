"""FHIR R4 export of consents and the access log (DOMAIN.md AC9, AC12, AC14; §11 req. 6, 12, 15,
16): pure functions that return JSON-ready dicts, no I/O.

``audit_event_resource`` is shaped after HL7 Norway's trust framework AuditEvent
(tillitsrammeverk; ``no-domain-Trustframework-Auditevent``, github.com/HL7Norway/AuditEvent):
type DICOM 110110, the user as a contained PractitionerRole (HPR number, legal entity, point of
care as a Location), purposeOfEvent, and the ``_patient`` and ``_careRelationMetaData``
extensions. Where the profile's examples break R4 (nested ``contained``, ``identifier.id`` instead
of ``identifier.value``, the practitioner's and patient's national id number) we follow R4 and
our own rule instead: people are identified by HPR number or internal id, never by national id.

Identifier systems come only from :class:`IdentifierSystem` (``SYSTEMS_USED``). Codes of our own
use the code systems under ``CODE_BASE``; log fields without a FHIR element are
``entity.detail`` entries of the patient entity. Free text is passed through ``text``
(``libs/web/fhir/elements.py``), which masks any run of 11 or more digits, so a national id
typed into a reason never leaves.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from libs.audit.log import AccessEntry, AccessLogged
from libs.kernel.identifiers import IdentifierSystem
from libs.web.fhir.elements import CODE_BASE, V3_ACT_CODE, coding, instant, org, text
from libs.access.model import Basis, Consent, Sector

CS_RECIPIENT_SECTOR = f"{CODE_BASE}/CodeSystem/recipient-sector"
CS_INFORMATION_CATEGORY = f"{CODE_BASE}/CodeSystem/information-category"
CS_ACCESS_ACTION = f"{CODE_BASE}/CodeSystem/access-action"
CS_ROLE = f"{CODE_BASE}/CodeSystem/role"
EXT_WITHDRAWN_AT = f"{CODE_BASE}/StructureDefinition/consent-withdrawn-at"
EXT_RECIPIENT_SECTOR = f"{CODE_BASE}/StructureDefinition/recipient-sector"

NO_SD = "http://hl7.no/fhir/StructureDefinition"
TRUSTFRAMEWORK_PROFILE = f"{NO_SD}/no-domain-Trustframework-Auditevent"  # not claimed in meta
EXT_AUDIT_PATIENT = f"{NO_SD}/auditevent-patient-extension"
EXT_CARE_RELATION_METADATA = f"{NO_SD}/auditevent-carerelation-metadata-extension"

V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

SYSTEMS_USED: frozenset[str] = frozenset({IdentifierSystem.HPR, IdentifierSystem.ENH})

SECTOR_DISPLAY = {  # Norwegian, as shown to citizens
    Sector.nav: "NAV", Sector.school: "Skole", Sector.kindergarten: "Barnehage",
    Sector.ppt: "PPT (pedagogisk-psykologisk tjeneste)", Sector.child_welfare: "Barnevern",
    Sector.municipal_other: "Annen kommunal tjeneste",
}
# Journal entries are immutable: a write always creates a new resource (req. 23), hence "C".
ACTION_CODE = {"read": "R", "open_restricted": "R", "disclose": "R", "write": "C",
               "manage": "U"}
PURPOSE_OF_USE = {"TREAT": "treatment", "ETREAT": "emergency treatment",  # v3-ActReason
                  "HOPERAT": "healthcare operations", "PATRQT": "patient requested"}
_REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
def consent_status(consent: Consent, now: datetime) -> str:
    """``proposed`` before valid_from, ``active`` while ``consent.active(now)``, else ``inactive``.

    R4 has no ``expired`` status (nor has R5): ``inactive`` means "terminated or replaced", which
    covers both a withdrawal and the end of the validity period; ``provision.period`` and the
    withdrawn-at extension tell the two apart."""
    if consent.withdrawn_at is not None and consent.withdrawn_at <= now:
        return "inactive"
    if now < consent.valid_from:
        return "proposed"
    return "active" if consent.active(now) else "inactive"


def consent_resource(patient_id: UUID, consent: Consent, now: datetime, *,
                     last_updated: datetime | None = None, version: int | None = None) -> dict:
    """A consent to share with a sector outside health care (req. 16) as an R4 ``Consent``.

    The recipient (sector, and organisation when the consent names one) is the provision's
    information recipient (IRCP); R4's ``Consent.organization`` is the custodian of the consent,
    not the recipient, so it is left out. ``dateTime`` is ``valid_from`` (the model keeps no
    separate time of signing)."""
    sector = coding(CS_RECIPIENT_SECTOR, consent.sector.value,
                     SECTOR_DISPLAY.get(consent.sector, consent.sector.value))
    recipient = (org(consent.recipient_org, sector["display"]) if consent.recipient_org
                 else {"display": sector["display"]})
    period = {"start": instant(consent.valid_from)} | (
        {"end": instant(consent.valid_to)} if consent.valid_to is not None else {})
    res: dict[str, Any] = {"resourceType": "Consent", "id": str(consent.consent_id)}
    meta = ({"versionId": str(version)} if version is not None else {}) | (
        {"lastUpdated": instant(last_updated)} if last_updated is not None else {})
    if meta:
        res["meta"] = meta
    if consent.withdrawn_at is not None:
        res["extension"] = [{"url": EXT_WITHDRAWN_AT,
                             "valueDateTime": instant(consent.withdrawn_at)}]
    res |= {
        "status": consent_status(consent, now),
        "scope": {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope",
                                     "patient-privacy", "Privacy Consent")]},
        "category": [{"coding": [coding("http://loinc.org", "59284-0", "Patient Consent")]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": instant(consent.valid_from),
    }
    if consent.grantor is not None:
        res["performer"] = [{"type": "Patient", "reference": f"Patient/{consent.grantor}",
                             "display": text(consent.grantor_role or "patient")}]
    res["policyRule"] = {"coding": [coding(V3_ACT_CODE, "OPTIN", "opt-in")]}
    res["provision"] = {
        "type": "permit",
        "period": period,
        "actor": [{"extension": [{"url": EXT_RECIPIENT_SECTOR, "valueCoding": sector}],
                   "role": {"coding": [coding(V3_PARTICIPATION, "IRCP",
                                               "information recipient")]},
                   "reference": recipient}],
        "purpose": [{"display": text(consent.purpose)}],
        "code": [{"coding": [coding(CS_INFORMATION_CATEGORY, text(c))]}
                 for c in sorted(consent.categories)],
    }
    return res


def _purposes(entry: AccessEntry) -> list[dict]:
    """purposeOfEvent: ETREAT for emergency access (AC12), TREAT for a care relation, the stated
    purpose (coded when it is a v3 PurposeOfUse code), then the declared details as text."""
    codes = ["ETREAT"] if entry.emergency else (
        ["TREAT"] if entry.legal_basis == Basis.care_relation else [])
    stated = (entry.purpose_of_use or "").strip()
    if stated.upper() in PURPOSE_OF_USE and stated.upper() not in codes:
        codes.append(stated.upper())
    purpose: dict[str, Any] = {}
    if codes:
        purpose["coding"] = [coding(V3_ACT_REASON, c, PURPOSE_OF_USE[c]) for c in codes]
    if stated:
        purpose["text"] = text(stated)
    out = [purpose] if purpose else []
    if entry.purpose_of_use_details:
        out.append({"text": text(entry.purpose_of_use_details)})
    return out


def _user(entry: AccessEntry) -> tuple[dict, list[dict]]:
    """The requesting agent and the resources it needs contained."""
    agent: dict[str, Any] = {}
    if entry.authorization:
        agent["role"] = [{"coding": [coding(CS_ROLE, text(a))]} for a in entry.authorization]
    contained: list[dict] = []
    if entry.actor_kind == "practitioner":
        practitioner: dict[str, Any] = {"type": "Practitioner"} | (
            {"identifier": {"system": IdentifierSystem.HPR, "value": entry.hpr}}
            if entry.hpr else {}) | ({"display": text(entry.name)} if entry.name else {})
        role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": "user",
                                "practitioner": practitioner}
        if entry.legal_entity:
            role["organization"] = org(entry.legal_entity)
        if entry.point_of_care:
            role["location"] = [{"reference": "#point-of-care"}]
            contained.append({"resourceType": "Location", "id": "point-of-care",
                              "managingOrganization": org(entry.point_of_care)})
        contained.insert(0, role)
        who = {"reference": "#user", "type": "PractitionerRole"}
    elif entry.actor_kind == "citizen":
        # actor_id is the citizen's patient id, or their token sub when they have no record here
        who = ({"reference": f"Patient/{entry.actor_id}", "type": "Patient"}
               if _UUID.fullmatch(entry.actor_id) else {"display": "citizen"})
    elif entry.actor_kind == "device":
        who = {"type": "Device", "identifier": {"value": text(entry.actor_id)}}
    else:
        who = {"display": text(entry.name or entry.actor_id)}
    if entry.person_id:
        agent["altId"] = text(entry.person_id)  # the token's pairwise sub, never a national id
    return agent | {"who": who, "requestor": True}, contained


def _details(entry: AccessEntry) -> list[dict]:
    """The log fields without a FHIR element (AC9: legal basis, period, what was withheld)."""
    optional = {"decision-ref": entry.decision_ref,
                "acting-for": entry.acting_for and f"Patient/{entry.acting_for}",
                "period": entry.period and "/".join(d.isoformat() for d in entry.period),
                "hidden": ",".join(entry.hidden)}
    pairs = {"legal-basis": entry.legal_basis, "emergency": str(entry.emergency).lower(),
             "reason": entry.reason, "category": entry.category} | {
        k: v for k, v in optional.items() if v}
    details = [{"type": k, "valueString": text(v)} for k, v in pairs.items()]
    if isinstance(entry, AccessLogged):  # verbatim: a hash is hex, never a person id
        chain = {"chain": entry.chain, "seq": str(entry.seq), "prev-hash": entry.prev_hash,
                 "hash": entry.hash}
        details += [{"type": k, "valueString": v} for k, v in chain.items()]
    return details


def _entity(resource: str) -> dict:
    if _REFERENCE.fullmatch(resource):
        return {"what": {"reference": resource},
                "type": coding("http://hl7.org/fhir/resource-types", resource.split("/")[0]),
                "role": coding(OBJECT_ROLE, "4", "Domain Resource")}
    return {"type": coding(ENTITY_TYPE, "2", "System Object"), "name": text(resource)}


def audit_event_resource(event_id: UUID, patient_id: UUID, entry: AccessLogged | AccessEntry,
                         *, recorded: datetime | None = None) -> dict:
    """One access-log entry (req. 12) as an R4 ``AuditEvent`` (req. 15, see the module doc).

    ``recorded`` defaults to ``accessed_at``. A permit is outcome ``0``; a deny is ``4`` (minor
    failure: the request was refused, nothing broke) with the reason code as ``outcomeDesc``."""
    user, contained = _user(entry)
    extensions: list[dict] = [{"url": EXT_AUDIT_PATIENT,
                               "valueReference": {"reference": f"Patient/{patient_id}"}}]
    if entry.decision_ref is not None:  # toa: we attest at the time of the decision
        extensions.append({"url": EXT_CARE_RELATION_METADATA, "extension": [
            {"url": "decision-ref-id", "valueString": str(entry.decision_ref)},
            {"url": "decision-ref-description", "valueString": text(entry.legal_basis)},
            {"url": "toa", "valueUnsignedInt": int(entry.accessed_at.timestamp())}]})
    res: dict[str, Any] = {"resourceType": "AuditEvent", "id": str(event_id)}
    if contained:
        res["contained"] = contained
    res |= {
        "extension": extensions,
        "type": coding(DICOM, "110110", "Patient Record"),
        "subtype": [coding(CS_ACCESS_ACTION, text(entry.action))],
        "action": ACTION_CODE.get(entry.action, "E"),
        "recorded": instant(recorded or entry.accessed_at),
        "outcome": "0" if entry.outcome == "permit" else "4",
    }
    if entry.outcome != "permit":
        res["outcomeDesc"] = text(entry.reason)
    if purposes := _purposes(entry):
        res["purposeOfEvent"] = purposes
    agents = [user]
    if entry.actor_kind != "practitioner" and entry.legal_entity:
        agents.append({"type": {"text": "legal entity"}, "who": org(entry.legal_entity),
                       "requestor": False})
    res["agent"] = agents
    res["source"] = {"observer": {"display": text(entry.service)},
                     "type": [coding(SOURCE_TYPE, "4", "Application Server")]}
    patient = {"what": {"reference": f"Patient/{patient_id}"},
               "type": coding(ENTITY_TYPE, "1", "Person"),
               "role": coding(OBJECT_ROLE, "1", "Patient"), "detail": _details(entry)}
    res["entity"] = [patient] + [_entity(r) for r in entry.resources]
    return res

