"""The ``journal.events`` contract for information withheld from the patient
(pasient- og brukerrettighetsloven § 5-1 second paragraph): the responsible clinician's documented
decision that the patient is not to be shown an entry (when showing it is urgently necessary to
avoid danger to life or serious harm, or clearly inadvisable out of regard for those close to the
patient), and the decision lifted. Other health personnel still see the entry; a citizen's read
(own record or as a proxy) leaves it out, without a marker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from libs.events.registry import EventPayload, event
from services.journal.contract.values import Hpr, OrgNr, Reason

WithholdableSection = Literal["notes", "observations", "conditions", "critical_info"]


@event("journal.EntryWithheldFromPatient")
class EntryWithheldFromPatient(EventPayload):
    entry_id: UUID
    section: WithholdableSection
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    withheld_at: datetime


@event("journal.EntryWithholdingLifted")
class EntryWithholdingLifted(EventPayload):
    """The patient may see the entry again."""

    entry_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    lifted_at: datetime
