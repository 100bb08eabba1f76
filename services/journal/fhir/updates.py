"""A FHIR ``update`` of a Patient read as the journal's change of details: the same mapping as
a registration (``from_fhir``: national id, name, sex, birth date, address with its
kommunenummer), each detail then set only where it differs (``patients.change_details``).
What the mapping does not carry (the regular GP, a death) is changed by its own operation, so
a Patient sent without it leaves it as it is. Pure: no I/O."""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from libs.kernel.errors import Invalid, PreconditionFailed
from services.journal.domain.base import Clinician
from services.journal.domain.patients import ChangeDetails, Patient
from services.journal.fhir import from_fhir, plan as fhir_plan, to_fhir

NO_CLINICIAN = cast(Clinician, None)   # a change of details makes no clinical entry


def patient_details(resource: dict, rid: str, now: datetime) -> ChangeDetails:
    """The details a Patient resource sets, or ``Invalid`` saying what it cannot be read as."""
    if resource.get("resourceType") != "Patient" or resource.get("id") != rid:
        raise Invalid(f"PUT Patient/{rid[:40]} takes that Patient, with the same id in its body.")
    if "deceasedDateTime" in resource or resource.get("deceasedBoolean"):
        raise Invalid("A death is recorded with POST /patients/{patient_id}/death, not in an "
                      "update of the Patient.")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": resource}]}
    try:
        plan = from_fhir.map_bundle(bundle, fhir_plan.IdPolicy(NO_CLINICIAN, now))
    except fhir_plan.BundleError as exc:
        raise Invalid(str(exc)) from None
    reg = plan.registration
    if reg is None:
        raise Invalid("The Patient cannot be read as the journal's details: "
                      + "; ".join(plan.skipped) + ".")
    return ChangeDetails(national_id=reg.national_id, assigner=reg.assigner,
                         birth_date=reg.birth_date, name=reg.name, sex=reg.sex,
                         address=reg.address, reason="FHIR update")


def _content(resource: dict | None) -> dict | None:
    """A Patient resource without what is not the patient's (its version and narrative), as
    JSON would carry it."""
    if resource is None:
        return None
    return json.loads(json.dumps({k: v for k, v in resource.items()
                                  if k not in ("meta", "text")}, default=str))


def still_as_read(p: Patient, rid: str, read: dict, version: int) -> None:
    """Refuse (412) an update decided on a record that changed after the client's version was
    read: the If-Match was checked against the FHIR read model, which another write may have
    overtaken before this one's append. Decided on the folded record, inside the write, so a
    race between two updates with the same If-Match lets exactly one through."""
    if _content(to_fhir.resource(p, "Patient", rid)) != _content(read):
        raise PreconditionFailed(version, f"Patient/{rid} has changed since version {version} "
                                          "was read. Read it again and redo your change.")
