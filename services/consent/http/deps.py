"""What the consent routes share: the patients' stream store, who may act, and the write
dependencies (``libs/web/write.py``) of its writes, each with the access it is logged under.

Three writes declare their own access (registering a person, ending a care relation, breaking
the glass): the declaration is logged as the access before the append. Three are decided in the
route (``IN_ROUTE``): opening restricted entries and a disclosure call ``w.require(...)`` with a
resource only the request names; starting a care relation asks who may start it
(``domain/relations.py``) and logs that, or the generic denial. The rest are guarded by the
policy for their category.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from libs.access.model import Action, Basis, Obligation, SectorOfficial
from libs.kernel.errors import Forbidden
from libs.web.guard import Subject, declared, practitioner
from libs.web.write import IN_ROUTE, Write, write
from libs.web.write import declared as declared_access
from services.consent.store import PatientAccessStore


RECORD = "the patient's access record"   # one stream per patient: what a stale If-Match names


def patients(request: Request) -> PatientAccessStore:
    return request.app.state.patients


Patients = Annotated[PatientAccessStore, Depends(patients)]



def sector_official(who: Subject) -> SectorOfficial:
    if not isinstance(who, SectorOfficial):
        raise Forbidden("Disclosures are requested by a recipient outside health care.")
    return who


# --- health personnel ---------------------------------------------------------------------------
PersonWrite = Annotated[Write, Depends(write(
    "identity", store=patients, actor=practitioner, what=RECORD,
    authorize=declared_access(declared("person_registered", Basis.administration), "identity")))]
CareRelationWrite = Annotated[Write, Depends(write(
    "care_relations", store=patients, actor=practitioner, what=RECORD, authorize=IN_ROUTE))]
# how a started care relation is logged (services/consent/domain/relations.py): the unit leader's
# assignment, or a professional's own declaration, which the unit leader reviews
RELATION_ACCESS = {
    "assigned": declared_access(declared("care_relation_assigned", Basis.administration),
                                "care_relations"),
    "self_declared": declared_access(declared("care_relation_self_declared",
                                              Basis.care_relation, Obligation.review),
                                     "care_relations"),
}
EndCareRelationWrite = Annotated[Write, Depends(write(
    "care_relations", store=patients, actor=practitioner, what=RECORD,
    authorize=declared_access(declared("care_relation_ended", Basis.care_relation),
                              "care_relations")))]
EmergencyWrite = Annotated[Write, Depends(write(
    "emergency", store=patients, actor=practitioner, what=RECORD,
    authorize=declared_access(declared("emergency_access_granted", Basis.emergency,
                                       Obligation.mark_emergency, Obligation.review),
                              "emergency")))]
OpenRestrictedWrite = Annotated[Write, Depends(write(
    "restrictions", store=patients, actor=practitioner, what=RECORD, authorize=IN_ROUTE))]
ChildWelfareWrite = Annotated[Write, Depends(write(
    "child_welfare", store=patients, actor=practitioner, action=Action.report_child_welfare,
    what=RECORD, purpose="duty_to_notify"))]
GuardiansWrite = Annotated[Write, Depends(write("guardians", store=patients,
                                                what=RECORD))]
DevicesWrite = Annotated[Write, Depends(write("devices", store=patients, what=RECORD))]
ReviewWrite = Annotated[Write, Depends(write(
    "access_log", store=patients, actor=practitioner, action=Action.read,
    what=RECORD,
    authorize=declared_access(declared("log_control", Basis.log_control), "access_log",
                              Action.read)))]

# --- the patient and their proxies ------------------------------------------------------------
ChoicesWrite = Annotated[Write, Depends(write("consents", store=patients, action=Action.manage,
                                              what=RECORD))]

# --- recipients outside health care -------------------------------------------------------------
DisclosureWrite = Annotated[Write, Depends(write(
    "disclosures", store=patients, actor=sector_official, what=RECORD, purpose="disclosure",
    authorize=IN_ROUTE))]
