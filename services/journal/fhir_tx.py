"""FHIR transaction Bundles for one patient: all or nothing.

The Bundle is mapped by ``fhir_in`` into the same domain commands the REST API uses, decided in
order against the patient's record, and appended as one write: every entry is in the record,
or none is. Entries the journal cannot hold make the whole Bundle a 422 that names each one
(a transaction that silently dropped part of what a clinician sent would be worse than none).
A Patient in the Bundle registers the patient (or, when the national id is already known, the
entries go to that patient); without one, every entry's subject must be the same
``Patient/<id>``. The HTTP ``If-Match`` header names the record version the Bundle was made
against (412 when stale), as on the REST API; ``request.ifMatch`` on entries is for updates,
which the journal takes through its correction commands instead (422).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import Request

from libs.access.guard import Access, Subject, declared
from libs.access.model import Action, Basis, Resource
from libs.events.envelope import Actor
from libs.events.registry import EventPayload
from libs.web.errors import FhirJSONResponse
from services.journal import fhir_in
from services.journal.api import change_or_412, clinician, etag, expected
from services.journal.domain import Refused
from services.journal.domain.patients import Patient, evolve


class _Policy(fhir_in.IdPolicy):
    """The base policy, except that a patient already known keeps their id."""

    known: UUID | None = None

    def patient_id(self, patient, fallback=None) -> UUID:
        return self.known or super().patient_id(patient, fallback)


def _subject(bundle: dict) -> UUID | None:
    refs = set()
    for e in bundle.get("entry") or []:
        res = (e or {}).get("resource") or {}
        ref = ((res.get("subject") or res.get("patient")) or {}).get("reference")
        if ref:
            refs.add(ref)
    if len(refs) != 1:
        return None
    try:
        return UUID(refs.pop().removeprefix("Patient/"))
    except ValueError:
        return None


def _check(bundle: dict) -> None:
    try:
        fhir_in.validate_bundle(bundle)
    except fhir_in.BundleError as exc:
        raise Refused(422, str(exc)) from None
    if bundle.get("type") != "transaction":
        raise Refused(422, "Bundle.type must be 'transaction' (the journal takes a patient's "
                           "entries all or nothing).")
    for n, e in enumerate(bundle.get("entry") or []):
        request = (e or {}).get("request") or {}
        if request.get("method", "POST") != "POST" or request.get("ifMatch"):
            raise Refused(422, f"Bundle.entry[{n}]: the journal creates entries (POST); a change "
                               "to an entry is a correction with a reason, made through its "
                               "correction operation.")


async def run(request: Request, who: Subject, access: Access,
              bundle: dict, actor: Actor) -> FhirJSONResponse:
    _check(bundle)
    by = clinician(who)
    store, settings = request.app.state.journal, request.app.state.settings
    now = access.now()
    policy = _Policy(by, now)
    try:
        plan = fhir_in.map_bundle(bundle, policy, patient_id=_subject(bundle))
        if plan.registration is not None:
            nid = plan.registration.national_id
            policy.known = (await store.claimed_by(nid) or await access.reader.patient_for(nid))
            if policy.known is not None:
                plan = fhir_in.map_bundle(bundle, policy)
    except fhir_in.BundleError as exc:
        raise Refused(422, f"{exc} (Without a Patient entry, every entry's subject must be "
                           "the same Patient/<id>.)") from None
    if plan.skipped:
        raise Refused(422, "The journal cannot hold every entry of this transaction, so none "
                           "was written: " + "; ".join(f"{n} × {reason}"
                                                       for reason, n in plan.skipped.items()))
    patient_id = plan.patient_id
    new_patient = plan.registration is not None and policy.known is None
    if new_patient:
        await access.record(who, Action.write, Resource(patient_id=patient_id,
                                                        category="identity"),
                            declared("patient_registered", Basis.administration))
    else:
        await access.require(who, Action.write, Resource(patient_id=patient_id,
                                                         category="record"),
                             resources=("Bundle",))

    def decide(p: Patient) -> list[EventPayload]:
        events: list[EventPayload] = []
        if new_patient:
            events += fhir_in.register_decider(
                plan.registration, now, production=settings.environment == "production",
                rule_2032=settings.id_rule_2032)(p)
        for e in events:
            p = evolve(p, e)
        for entry in plan.entries:
            try:
                made = fhir_in.decide(p, entry, now)
            except Refused as exc:
                raise Refused(exc.status, f"{entry.source}: {exc.message}") from None
            for e in made:
                p = evolve(p, e)
            events += made
        return events

    if new_patient:
        if expected(request.headers.get("If-Match")) not in (None, 0):
            raise Refused(412, "The patient is not registered yet: the record is at version 0.")
        result = await store.register(patient_id, decide, actor)
    else:
        result = await change_or_412(store, patient_id, decide, actor,
                                     request.headers.get("If-Match"))
    return _response(plan, result, new_patient)


def _response(plan: fhir_in.Plan, result, new_patient: bool) -> FhirJSONResponse:
    entries = []
    if new_patient:
        entries.append({"response": {"status": "201 Created",
                                     "location": f"Patient/{plan.patient_id}"}})
    types = {"observation": "Observation", "condition": "Condition",
             "condition_resolved": "Condition", "critical_info": None,
             "episode_started": "EpisodeOfCare", "episode_ended": "EpisodeOfCare",
             "death": "Patient"}
    for entry in plan.entries:
        rtype = types[entry.kind] or _critical_type(entry)
        rid = entry.entity_id or plan.patient_id
        entries.append({"response": {"status": "201 Created" if entry.kind in (
            "observation", "condition", "critical_info", "episode_started") else "200 OK",
            "location": f"{rtype}/{rid}"}})
    headers = {}
    if result is not None:
        headers = {"ETag": etag(result.version),
                   "X-Consistency-Token": result.token.encode()}
    return FhirJSONResponse({"resourceType": "Bundle", "type": "transaction-response",
                             "entry": entries}, status_code=200, headers=headers)


def _critical_type(entry: fhir_in.Entry) -> str:
    category = getattr(entry.command, "category", "")
    return "AllergyIntolerance" if category in ("drug_reaction", "other_allergy") else "Flag"

