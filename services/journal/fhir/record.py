"""FHIR R4 resources of the patient, the episodes and contacts, and the notes
(``to_fhir.py`` says how each maps)."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

from libs.kernel.identifiers import (
    HNR_TYPE_CODE, IdentifierSystem, PersonId, PersonIdType, system_for,
)
from libs.web.fhir.elements import V3_ACT_CODE, coding, instant, org, text
from services.journal.domain.clinical_state import Note
from services.journal.domain.episodes import Episode
from services.journal.domain.patients import Patient
from services.journal.fhir.elements import (
    concept, CONTACT_CLASS, CS_EPISODE_KIND, CS_NOTE_KIND, CS_URBAN_DISTRICT, drop_none,
    EPISODE_KIND_NO, EXT_MUNICIPALITY, EXT_URBAN_DISTRICT, head, is_contact, iso_date, NOT_XML,
    NOTE_KIND_NO, practitioner_ref, Resource, subject_ref, THO, XHTML,
)


# --- Patient -----------------------------------------------------------------------------------

def _identifier(p: Patient) -> dict:
    pid = PersonId(p.national_id or "", p.id_type or PersonIdType.fnr, None, p.assigner)
    ident: dict[str, Any] = {"system": system_for(pid), "value": p.national_id}
    if p.id_type == "hnr":
        ident = {"type": concept(IdentifierSystem.HNR_TYPE, HNR_TYPE_CODE)} | ident | {
            "assigner": {"display": text(p.assigner or "")}}
    return ident


def _address(p: Patient) -> dict | None:
    a = p.address
    if a is None:
        return None
    out: dict[str, Any] = {}
    if a.district:
        out["extension"] = [{"url": EXT_URBAN_DISTRICT,
                             "valueCoding": coding(CS_URBAN_DISTRICT, a.district)}]
    out |= {"use": "home", "type": "physical"}
    if a.lines:
        out["line"] = list(a.lines)
    if a.city:
        out["city"] = a.city
    out["_district"] = {"extension": [{"url": EXT_MUNICIPALITY, "valueCoding": coding(
        IdentifierSystem.MUNICIPALITY, a.municipality)}]}
    if a.postal_code:
        out["postalCode"] = a.postal_code
    return out | {"country": "NO"}


def patient(p: Patient, meta: dict | None = None) -> Resource:
    if not p.registered:
        raise ValueError("an unregistered patient has no Patient resource")
    name = None if p.name is None else [{
        "use": "official", "text": f"{p.name.given} {p.name.family}",
        "family": p.name.family, "given": p.name.given.split()}]
    return drop_none(head("Patient", p.patient_id, meta) | {
        "identifier": [_identifier(p)] if p.national_id else None,
        "active": True,
        "name": name,
        "gender": p.sex,
        "birthDate": iso_date(p.birth_date),
        "deceasedDateTime": iso_date(p.deceased_on),
        "address": [a] if (a := _address(p)) else None,
        "generalPractitioner": [practitioner_ref(p.regular_gp)] if p.regular_gp else None,
    })


# --- episodes and contacts ---------------------------------------------------------------------

def episode_of_care(p: Patient, e: Episode, meta: dict | None = None) -> Resource:
    period = {"start": instant(e.started_at)} | (
        {"end": instant(e.ended_at)} if e.ended_at is not None else {})
    return head("EpisodeOfCare", e.episode_id, meta) | {
        "status": "active" if e.ended_at is None else "finished",
        "type": [concept(CS_EPISODE_KIND, e.kind, EPISODE_KIND_NO[e.kind])],
        "patient": subject_ref(p),
        "managingOrganization": org(e.unit),
        "period": period,
    }


def encounter(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    if not is_contact(note):
        raise ValueError("only a signed home-care visit or legevakt note is an Encounter")
    code, display = CONTACT_CLASS[note.kind]
    at = instant(note.signed_at)  # type: ignore[arg-type]  # signed
    first = note.versions[0]
    return drop_none(head("Encounter", note.note_id, meta) | {
        "status": "finished",
        "class": coding(V3_ACT_CODE, code, display),
        "subject": subject_ref(p),
        "episodeOfCare": ([{"reference": f"EpisodeOfCare/{note.episode_id}"}]
                          if note.episode_id else None),
        "participant": [{"type": [concept(f"{THO}/v3-ParticipationType", "PPRF",
                                           "primary performer")],
                         "individual": practitioner_ref(first.by)}],
        "period": {"start": at, "end": at},
        "serviceProvider": org(first.unit),
    })


# --- notes -------------------------------------------------------------------------------------

def _note_kind(note: Note) -> dict:
    return concept(CS_NOTE_KIND, note.kind, NOTE_KIND_NO[note.kind]) | {
        "text": NOTE_KIND_NO[note.kind]}


def _note_status(note: Note) -> str:
    if note.status == "draft":
        return "preliminary"
    return "amended" if len(note.versions) > 1 else "final"


def _note_date(note: Note) -> str:
    last = note.versions[-1].at
    return instant(max(last, note.signed_at) if note.signed_at else last)


def _authors(note: Note) -> list[dict]:
    return [practitioner_ref(hpr) for hpr in dict.fromkeys(v.by for v in note.versions)]


def _note_text(note: Note) -> str:
    return text(note.text)


def document_reference(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    data = _note_text(note).encode("utf-8")
    context = [{"reference": f"Encounter/{note.note_id}"}] if is_contact(note) else []
    if note.episode_id:
        context.append({"reference": f"EpisodeOfCare/{note.episode_id}"})
    return drop_none(head("DocumentReference", note.note_id, meta) | {
        "status": "current",
        "docStatus": _note_status(note),
        "type": _note_kind(note),
        "subject": subject_ref(p),
        "date": _note_date(note),
        "author": _authors(note),
        "authenticator": practitioner_ref(note.signed_by) if note.signed_by else None,
        "custodian": org(note.versions[0].unit),
        "content": [{"attachment": {
            # "no" (Norwegian): the code R4's languages value set has ("nb" is not in it)
            "contentType": "text/plain; charset=utf-8", "language": "no",
            "data": base64.b64encode(data).decode("ascii"), "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
            "title": NOTE_KIND_NO[note.kind], "creation": instant(note.versions[0].at)}}],
        "context": {"encounter": context} if context else None,
    })


def _xhtml(text: str) -> str:
    """Plain text as an XHTML narrative: escaped, one ``<p>`` per line, no XML-illegal chars."""
    lines = NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return f'<div xmlns="{XHTML}">' + "".join(f"<p>{escape(x)}</p>" for x in lines) + "</div>"


def composition(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    attesters = [] if note.signed_by is None else [
        {"mode": "legal", "time": instant(note.signed_at),  # type: ignore[arg-type]
         "party": practitioner_ref(note.signed_by)}]
    attesters += [{"mode": "legal", "time": instant(v.at), "party": practitioner_ref(v.by)}
                  for v in note.versions[1:]]  # a correction is signed when made
    title = NOTE_KIND_NO[note.kind]
    return drop_none(head("Composition", note.note_id, meta) | {
        "status": _note_status(note),
        "type": _note_kind(note),
        "subject": subject_ref(p),
        "encounter": {"reference": f"Encounter/{note.note_id}"} if is_contact(note) else None,
        "date": _note_date(note),
        "author": _authors(note),
        "title": title,
        "attester": attesters,
        "custodian": org(note.versions[0].unit),
        "section": [{"title": title, "text": {"status": "generated",
                                              "div": _xhtml(_note_text(note))}}],
    })
