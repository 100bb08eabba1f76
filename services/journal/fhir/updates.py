"""A FHIR ``update`` of a Patient read as the journal's change of details: the same mapping as
a registration (``from_fhir``: national id, name, sex, birth date, address with its
kommunenummer), each detail then set only where it differs (``patients.change_details``).
What the mapping does not carry (the regular GP, a death) is changed by its own operation, so
a Patient sent without it leaves it as it is. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from libs.kernel.errors import Invalid
from services.journal.domain.base import Clinician
from services.journal.domain.patients import ChangeDetails
from services.journal.fhir import from_fhir, plan as fhir_plan

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
