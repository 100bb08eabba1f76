"""What the medication routes share: the store, the read models and the catalogue from the app,
the domain's actor from the token, the write dependencies, and the list as a reader may see it.

- Every route with a patient in its path is guarded (category ``medication``): decided, logged
  durably, then permitted or 403 without saying whether the patient exists.
- Only prescribers (health personnel whose token carries the prescriber or physician role and an
  HPR number) change the list; other health personnel and medicine dispensers record
  administration; everyone with a need-to-know reads.
- A change of the list must name the list version it was made against in ``If-Match`` (the
  ``ETag`` of a read; ``ListChange``): without it 428, a stale one 412 with the current version,
  so two people changing the same list at once never overwrite each other silently. Recording
  what happened (``Record``: a dose given, a dispensing, a reconciliation) may send it too, but
  need not: it is a fact, not a change of the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from pydantic import create_model

from libs.access.model import Device, Practitioner, Role
from libs.events.store import AppendResult
from libs.kernel.errors import Forbidden, Unavailable
from libs.web.guard import Grant
from libs.web.params import as_of_query
from libs.web.write import Write, write
from services.medication import views
from services.medication.catalogue.adapter import FestCatalogue
from services.medication.domain import Actor, Command, Dispenser, Nurse, Prescriber
from services.medication.domain.state import MedicationList
from services.medication.projections.reader import CAVE_OF, ListReader
from services.medication.store import MedicationStore

LIST = "/patients/{patient_id}/medication-list"
ENTRY = LIST + "/entries/{entry_id}"
CATEGORY = "medication"
WHAT = "the medication list"


def medication_store(request: Request) -> MedicationStore:
    return request.app.state.medication


async def _store(request: Request) -> MedicationStore:
    return medication_store(request)


async def _reader(request: Request) -> ListReader:
    return request.app.state.reader


Store = Annotated[MedicationStore, Depends(_store)]
Reader = Annotated[ListReader, Depends(_reader)]
AS_OF_DOC = ("The list as it stood at this instant, e.g. when a dose was given. Changes "
             "recorded later are not shown.")
AsOf = as_of_query(AS_OF_DOC)


def actor(who) -> Actor:
    """The domain's actor from the token: a prescriber (prescriber or physician role and an HPR
    number), other health personnel, or a medicine dispenser."""
    if isinstance(who, Device):
        return Dispenser(client_id=who.client_id)
    if not isinstance(who, Practitioner):
        raise Forbidden("Only health personnel and medicine dispensers change the medication "
                        "list or record doses.")
    if not who.hpr:
        raise Forbidden("Only authorised health personnel (with an HPR number) can do this.")
    if Role.prescriber in who.roles or Role.physician in who.roles:
        return Prescriber(hpr=who.hpr, unit=who.unit)
    return Nurse(hpr=who.hpr, unit=who.unit)


ListChange = Annotated[Write, Depends(write(CATEGORY, store=medication_store, actor=actor,
                                            if_match="required", what=WHAT))]
# a change decision support checks: the patient's critical information (CAVE) is read with the
# access facts, one statement (``cave_from(w.grant.read)``)
CheckedChange = Annotated[Write, Depends(write(CATEGORY, store=medication_store, actor=actor,
                                               if_match="required", what=WHAT,
                                               read_with=CAVE_OF))]
Record = Annotated[Write, Depends(write(CATEGORY, store=medication_store, actor=actor,
                                        what=WHAT))]


def catalogue_of(request: Request) -> FestCatalogue:
    live = request.app.state.catalogue
    if live.view is None:
        raise Unavailable("No drug catalogue is loaded, so orders cannot be checked: load one "
                          "with `ehr catalogue load`.")
    return live.view


def fresh_within(request: Request):
    """How recent a fetch from the prescription intermediary a change needs (None: not
    required), as the composition root set it."""
    return request.app.state.fresh_within


def without_entry_id(command: type) -> type:
    """The command's body: the command without ``entry_id`` (it is in the path)."""
    fields = {k: (v.annotation, v) for k, v in command.model_fields.items() if k != "entry_id"}
    return create_model(f"{command.__name__}Body", __base__=Command, **fields)


def warnings_of(result: AppendResult) -> list[dict[str, Any]]:
    """The decision-support warnings an append recorded, as the answer shows them."""
    return [w for env in result.envelopes if env.type == "medication.WarningsRecorded"
            for w in env.data["warnings"]]


def answer(created: str | None = None) -> Callable[[AppendResult], dict[str, Any]]:
    """The body of a write's answer: the list's new version, the warnings shown and recorded,
    and the id of what was created."""
    def body(result: AppendResult) -> dict[str, Any]:
        out: dict[str, Any] = {"version": result.version, "warnings": warnings_of(result)}
        if created:
            out[created] = str(result.envelopes[0].data[created])
        return out
    return body


NOTHING_RECORDED = {"recorded": False}   # a repeated report (a dispenser's event id)


def hidden(grant: Grant) -> frozenset[str]:
    return views.hidden_of(grant.decision.hidden, grant.decision.categories)


async def list_at(store: MedicationStore, reader: ListReader, patient_id: UUID,
                  as_of: datetime | None, grant: Grant) -> tuple[MedicationList, int, int]:
    """The list now (the read model) or as it stood at ``as_of`` (folded from the store), as
    the reader may see it: (list, version, entries withheld)."""
    if as_of is not None:
        loaded = await store.history(patient_id, as_of)
        lst, version = loaded.state, loaded.version
    else:
        found = await reader.list(patient_id)
        lst, version = found or (MedicationList.empty(patient_id), 0)
    seen, withheld = views.visible(lst, hidden(grant))
    return seen, version, withheld
