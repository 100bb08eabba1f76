"""The journal's own code systems as CodeSystem resources (``libs/web/fhir/codesystems.py``),
generated from the tables that define their codes and Norwegian displays; with the shared
ones (sectors, access actions, roles) they are what ``GET /fhir/CodeSystem`` publishes. The
URL of each is the ``CS_*`` constant its mapping writes (``elements.py``)."""

from __future__ import annotations

from libs.web.fhir.codesystems import SHARED, CodeSystemDef
from services.journal.domain.clinical_state import CATEGORY_NO
from services.journal.domain.process_state import KIND_NO as TASK_KIND_NO
from services.journal.fhir.elements import (
    CRITICAL_STATUS_NO, CS_CRITICAL_CATEGORY, CS_CRITICAL_STATUS, CS_EPISODE_KIND, CS_NOTE_KIND,
    CS_TASK_KIND, EPISODE_KIND_NO, NOTE_KIND_NO,
)


def _id(url: str) -> str:
    return url.rsplit("/", 1)[1]


JOURNAL = (
    CodeSystemDef(_id(CS_EPISODE_KIND), "Episode kind",
                  "The kind of an episode of care in the municipal record (home care, nursing "
                  "home, GP, legevakt, hospital stay).", EPISODE_KIND_NO),
    CodeSystemDef(_id(CS_NOTE_KIND), "Note kind",
                  "The kind of a clinical note (nursing, medical, home-care visit, legevakt "
                  "contact, discharge summary received).", NOTE_KIND_NO),
    CodeSystemDef(_id(CS_CRITICAL_CATEGORY), "Critical information category",
                  "The category of critical information (CAVE): drug reactions, other "
                  "allergies, anaesthesia complications, critical conditions, ongoing "
                  "treatment or implants, treatment limitations, infection.", CATEGORY_NO),
    CodeSystemDef(_id(CS_CRITICAL_STATUS), "Critical information status",
                  "Where an item of critical information stands: registered, verified, "
                  "refuted or removed.", CRITICAL_STATUS_NO),
    CodeSystemDef(_id(CS_TASK_KIND), "Task kind",
                  "The kind of a task on a unit's worklist.", TASK_KIND_NO),
)
CODE_SYSTEMS = (*JOURNAL, *SHARED)
