"""A FHIR ``update`` of an Observation read as what the journal does to a recorded value: a
correction (``ObservationCorrected``: a new value, with its reason) or, with status
``entered-in-error``, the mark that it was recorded in error. The reason is the text of the
note(s) the update adds; the original and each correction stay readable in ``_history``.
Everything else (code, patient, time, performer) is what was recorded: an update that changes
it is refused, saying what to do instead. Pure: no I/O."""

from __future__ import annotations

import json
from uuid import UUID

from pydantic import ValidationError

from libs.kernel.errors import Invalid, PreconditionFailed
from services.journal.domain.clinical import CorrectObservation, ObservationInError
from services.journal.domain.clinical_state import Observation
from services.journal.domain.patients import Patient
from services.journal.fhir.clinical import observation

Change = CorrectObservation | ObservationInError
# what an update may change: the value, the status, the notes (a new one is the reason); the
# rest the server writes itself (meta, narrative, when the last version was issued)
CHANGEABLE = ("meta", "text", "note", "valueQuantity", "dataAbsentReason", "status", "issued")
CORRECTED = ("amended", "corrected")
IN_ERROR = "entered-in-error"


def _json(value: object) -> object:
    return json.loads(json.dumps(value, default=str))


def _kept(resource: dict) -> object:
    return _json({k: v for k, v in resource.items() if k not in CHANGEABLE})


def _reason(resource: dict, read: dict) -> str | None:
    """The text of the notes the update adds to those already recorded."""
    notes = resource.get("note") or []
    if not isinstance(notes, list):
        raise Invalid("Observation.note is a list of annotations.")
    known = _json(read.get("note") or [])
    added = [n.get("text") for n in notes if isinstance(n, dict) and _json(n) not in known]
    texts = [t.strip() for t in added if isinstance(t, str) and t.strip()]
    return "\n".join(texts) or None


def _value(resource: dict, read: dict) -> float | None:
    """The new value, or None when it is the one read (in the same unit)."""
    quantity, was = resource.get("valueQuantity"), read.get("valueQuantity") or {}
    if quantity == was or quantity is None and "dataAbsentReason" in read:
        return None
    if not isinstance(quantity, dict) or isinstance(quantity.get("value"), bool) \
            or not isinstance(quantity.get("value"), int | float):
        raise Invalid("Observation.valueQuantity.value must be a number.")
    unit = {k: quantity.get(k) for k in ("system", "code")}
    if unit != {k: was.get(k) for k in ("system", "code")}:
        raise Invalid(f"The value is recorded in {was.get('code', 'its unit')} (UCUM): an update "
                      "corrects the value in that unit.")
    return float(quantity["value"])


def observation_change(resource: dict, rid: str, read: dict) -> Change | None:
    """What an update of ``Observation/rid`` asks the journal to do, decided against the
    version read (``read``); None when it changes nothing. ``Invalid`` says why it cannot be
    read as a correction."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation" \
            or resource.get("id") != rid:
        raise Invalid(f"PUT Observation/{rid[:40]} takes that Observation, with the same id "
                      "in its body.")
    if _kept(resource) != _kept(read):
        raise Invalid("An update of an Observation corrects its value (valueQuantity.value) or "
                      "marks it entered-in-error, with the reason in a new note; a different "
                      "code, patient, time or performer is a new Observation (POST "
                      "Observation), and this one is marked entered-in-error.")
    status, value = resource.get("status"), _value(resource, read)
    reason = _reason(resource, read)
    if reason is None and (value is not None or status != read.get("status")):
        raise Invalid("A correction needs its reason: add it as a new note (note.text) to "
                      "the Observation you send.")
    try:
        if status == IN_ERROR and read.get("status") != IN_ERROR:
            return ObservationInError(observation_id=UUID(rid), reason=reason)
        if status != read.get("status") and status not in CORRECTED:
            raise Invalid(f"Observation.status {str(status)[:40]}: an update keeps the status "
                          f"read, or sets {', '.join(CORRECTED)} (a corrected value) or "
                          f"{IN_ERROR}.")
        if value is None:
            return None
        return CorrectObservation(observation_id=UUID(rid), value=value, reason=reason)
    except (ValidationError, ValueError):
        raise Invalid("The Observation cannot be read as a correction: its id is the "
                      "server's, and a reason (note) has at most 2,000 characters.") from None


def still_as_read(p: Patient, o: Observation | None, rid: str, read: dict,
                  version: int) -> None:
    """Refuse (412) an update decided on an observation that changed after the client's
    version was read: checked on the observation as its events fold it, inside the write, so
    of two updates with the same If-Match exactly one goes through."""
    if o is None or _json(observation(p, o)) != _json({k: v for k, v in read.items()
                                                       if k not in ("meta", "text")}):
        raise PreconditionFailed(version, f"Observation/{rid} has changed since version "
                                          f"{version} was read. Read it again and redo your "
                                          "change.")
