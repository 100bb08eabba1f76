"""FHIR transaction Bundles for one patient: all or nothing.

The Bundle is mapped by ``from_fhir`` into the same domain commands the REST API uses, decided in
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

import asyncio
import hashlib
import json
import uuid
from uuid import UUID

from libs.access.model import Action, Basis, Resource
from libs.events.consistency import HEADER
from libs.events.envelope import new_event_id
from libs.events.registry import EventPayload
from libs.kernel.errors import DomainError, Invalid, PreconditionFailed
from libs.web.errors import FhirJSONResponse, domain_outcome
from libs.web.guard import AccessDenied, declared
from libs.web.write import Write
from services.journal.contract import ObservationRecorded
from services.journal.domain.patients import Patient, evolve
from services.journal.fhir import deciders, from_fhir, plan as fhir_plan
from services.journal.domain.base import Clinician


class _Policy(fhir_plan.IdPolicy):
    """Ids the server assigns. The client's ids and ``fullUrl`` placeholders only link the
    Bundle's entries: a new patient gets a new id (a patient already known keeps theirs), and
    an entry's id is derived from its patient's id, its placeholder and its content, so two
    clients that both number their entries ``urn:uuid:1`` never meet (nor do two different
    entries one client numbers alike), while the same Bundle sent again names the same
    entries and records nothing twice."""

    def __init__(self, by: Clinician, now, owner: UUID | None = None):
        super().__init__(by, now)
        self.known: UUID | None = None
        self.owner = owner or new_event_id()   # the new patient's id, until one is known

    def key(self, resource, fallback=None) -> str:
        """The entry's name in messages: its placeholder, or "new"."""
        return f"{resource.get('resourceType')}/{resource.get('id') or fallback or 'new'}"

    def patient_id(self, patient, fallback=None) -> UUID:
        return self.known or self.owner

    def entity_id(self, resource, part: str = "", fallback=None) -> UUID:
        content = json.dumps(resource, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(content.encode()).hexdigest()
        key = self.key(resource, fallback) + (f"#{part}" if part else "")
        return uuid.uuid5(self.namespace, f"{self.patient_id(resource)}/{key}/{digest}")


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


INLINE_ENTRIES = 20


async def off_loop_if_large(bundle: dict, fn, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` for ``bundle``: on the event loop for up to ``INLINE_ENTRIES``
    entries, in a worker thread beyond. A thread lets the loop serve other requests while a
    large Bundle is checked and mapped (it still holds the GIL while it works), but costs a
    hand-over each way and a contended GIL: for a single create that was more than the work
    (``bench/profiles/fhir-create-notify.svg``: the pool's submit, its worker and the waking)."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list) or len(entries) > INLINE_ENTRIES:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


def check_one(resource: dict, rtype: str) -> None:
    """One resource a create takes (its type already checked), or ``Invalid`` saying why not."""
    try:
        deciders.validate_resource(resource, rtype)
    except fhir_plan.BundleError as exc:
        raise Invalid(str(exc)) from None


def check(bundle: dict) -> None:
    """A transaction Bundle the journal takes, or ``Invalid`` saying why not."""
    try:
        deciders.validate_bundle(bundle)
    except fhir_plan.BundleError as exc:
        raise Invalid(str(exc)) from None
    if bundle.get("type") != "transaction":
        raise Invalid("Bundle.type must be 'transaction' (the journal takes a patient's "
                      "entries all or nothing) or 'batch' (each entry on its own).")
    for n, e in enumerate(bundle.get("entry") or []):
        request = (e or {}).get("request") or {}
        if request.get("method", "POST") != "POST" or request.get("ifMatch"):
            raise Invalid(f"Bundle.entry[{n}]: the journal creates entries (POST); a change "
                          "to an entry is a correction with a reason, made through its "
                          "correction operation.")


async def run(w: Write, bundle: dict, by: Clinician, *, production: bool,
              rule_2032: bool) -> FhirJSONResponse:
    """Decide a ``check``ed Bundle and write it through ``w``: a registration (``w.register``,
    the declared access) or entries for a known patient (the policy decides, then ``apply``).
    ``production`` and ``rule_2032`` are the national-id rules of the environment."""
    access, store = w.access, w.store
    now = w.now
    subject = _subject(bundle)
    policy = _Policy(by, now, subject)
    try:   # mapping a large Bundle is CPU work: in a worker thread, the loop serves others
        plan = await off_loop_if_large(bundle, from_fhir.map_bundle, bundle, policy,
                                       patient_id=subject)
        if plan.registration is not None:
            nid = plan.registration.national_id
            policy.known = (await store.claimed_by(nid) or await access.reader.patient_for(nid))
            if policy.known is not None:
                plan = await off_loop_if_large(bundle, from_fhir.map_bundle, bundle, policy)
    except fhir_plan.BundleError as exc:
        raise Invalid(f"{exc} (Without a Patient entry, every entry's subject must be "
                      "the same Patient/<id>.)") from None
    if plan.skipped:
        raise Invalid("The journal cannot hold every entry of this transaction, so none "
                      "was written: " + "; ".join(f"{n} × {reason}"
                                                  for reason, n in plan.skipped.items()))
    patient_id = plan.patient_id
    new_patient = plan.registration is not None and policy.known is None
    if new_patient:   # the registration is the access, declared
        await access.record(w.subject, Action.write, Resource(patient_id=patient_id,
                                                              category="identity"),
                            declared("patient_registered", Basis.administration))
    else:   # entries for a patient the policy decides on
        await w.require(Resource(patient_id=patient_id, category="record"),
                        resources=("Bundle",))

    wanted = deciders.observation_ids(plan.entries)

    async def decide(p: Patient) -> list[EventPayload]:
        events: list[EventPayload] = []
        if new_patient:
            events += deciders.register_decider(
                plan.registration, now, production=production, rule_2032=rule_2032)(p)
        for e in events:
            p = evolve(p, e)
        # the observations an earlier import of this Bundle wrote (not part of ``Patient``)
        held = set(await store.observations(patient_id, wanted)) if wanted and p.registered \
            and not new_patient else set()
        for entry in plan.entries:
            try:
                made = deciders.decide(p, entry, now, held)
            except DomainError as exc:
                raise type(exc)(f"{entry.source}: {exc.message}", exc.details) from None
            for e in made:
                p = evolve(p, e)
                if isinstance(e, ObservationRecorded):
                    held.add(e.observation_id)
            events += made
        return events

    if new_patient:
        if w.expected not in (None, 0):
            raise PreconditionFailed(0, "The patient is not registered yet: the record is at "
                                        "version 0.")
        await w.register(patient_id, decide)
    else:
        await w.apply(decide, patient_id=patient_id)
    # the answer is a Bundle: the write's ETag and consistency token go on it
    headers = {h: w.response.headers[h] for h in ("ETag", HEADER) if h in w.response.headers}
    return _response(plan, headers, new_patient)


def _response(plan: fhir_plan.Plan, headers: dict[str, str],
              new_patient: bool) -> FhirJSONResponse:
    entries = []
    if plan.registration is not None:   # the Bundle's Patient: registered now, or known
        entries.append({"response": {"status": "201 Created" if new_patient else "200 OK",
                                     "location": f"Patient/{plan.patient_id}"}})
    types = {"observation": "Observation", "result": "Observation", "condition": "Condition",
             "coded_condition": "Condition", "immunization": "Immunization",
             "encounter": "Encounter", "procedure": "Procedure", "report": "DiagnosticReport",
             "condition_resolved": "Condition", "critical_info": None,
             "episode_started": "EpisodeOfCare", "episode_ended": "EpisodeOfCare",
             "care_plan": "CarePlan", "goal": "Goal", "death": "Patient"}
    for entry in plan.entries:
        rtype = types[entry.kind] or _critical_type(entry)
        rid = entry.entity_id or plan.patient_id
        entries.append({"response": {"status": "201 Created" if entry.kind in (
            "observation", "result", "condition", "coded_condition", "critical_info",
            "immunization", "encounter", "procedure", "report", "episode_started",
            "care_plan", "goal")
            else "200 OK",
            "location": f"{rtype}/{rid}"}})
    return FhirJSONResponse({"resourceType": "Bundle", "type": "transaction-response",
                             "entry": entries}, status_code=200, headers=headers)


def _critical_type(entry: fhir_plan.Entry) -> str:
    category = getattr(entry.command, "category", "")
    return "AllergyIntolerance" if category in ("drug_reaction", "other_allergy") else "Flag"


def location_of(answer: FhirJSONResponse, rtype: str) -> str:
    """Where a transaction's answer put its first entry of ``rtype`` (``<type>/<id>``)."""
    return next(e["response"]["location"] for e in json.loads(answer.body)["entry"]
                if e["response"]["location"].startswith(f"{rtype}/"))


async def run_batch(w: Write, bundle: dict, by: Clinician, *, production: bool,
                    rule_2032: bool) -> FhirJSONResponse:
    """A batch Bundle: each entry a transaction of its own (its own patient, guard, access log
    and append), answered in order with its own status; one refused entry (an OperationOutcome
    in its ``response.outcome``) stops none of the others. Entries of a batch do not refer to
    each other (FHIR), and the request's ``If-Match`` names no one record, so it is not used."""
    w.expected = None
    answers = []
    for entry in bundle.get("entry") or []:
        resource = (entry or {}).get("resource") or {}
        one = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        try:
            check(one)   # one entry: on the loop (off_loop_if_large)
            answer = await run(w, one, by, production=production, rule_2032=rule_2032)
            created = "X-Consistency-Token" in answer.headers
            answers.append({"response": {
                "status": "201 Created" if created else "200 OK",
                "location": location_of(answer, str(resource.get("resourceType")))}})
        except (DomainError, AccessDenied) as exc:
            status, outcome = ((403, {"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "forbidden", "diagnostics": exc.decision.message}]})
                if isinstance(exc, AccessDenied) else domain_outcome(exc))
            answers.append({"response": {"status": str(status), "outcome": outcome}})
    return FhirJSONResponse({"resourceType": "Bundle", "type": "batch-response",
                             "entry": answers})
