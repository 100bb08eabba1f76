"""The overview is written by orjson (``http/reads.py``): its views must be plain JSON values, so
the answer is byte for byte what pydantic-core wrote from them before (a datetime or a UUID left
in a view would come out differently: ``+00:00`` against ``Z``)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, TypeAdapter

from libs.events.parsed_docs import ParsedTexts
from services.journal.domain import patients as pt
from services.journal.domain.clinical_state import Observation, fold_observations
from services.journal.http import views
from tests.journal.support import HISTORY_NURSE_HPR, NOW, every_event

PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, where: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str, where
            _plain(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]")
    else:
        assert type(value) in PLAIN, f"{where} is a {type(value).__name__}"


@pytest.mark.parametrize("hidden", [frozenset(), frozenset({"notes", "tasks"})])
def test_the_overview_is_plain_json_written_as_pydantic_wrote_it(hidden):
    patient_id = uuid.uuid4()
    events = every_event(patient_id)
    patient = pt.fold(patient_id, events)
    observations = list(fold_observations(events).values())
    body = views.overview(patient, observations, NOW, hidden, HISTORY_NURSE_HPR) | {
        "version": len(events), "as_of": None}
    assert body["newest_notes"] and body["latest_vital_signs"] and body["episodes"]
    _plain(body)
    assert orjson.dumps(body) == TypeAdapter(dict[str, Any]).dump_json(body)


def test_parsed_texts_share_one_parse_per_text_and_forget_the_oldest():
    events = every_event(uuid.uuid4())
    texts = [o.model_dump_json() for o in fold_observations(events).values()][:3]
    assert len(set(texts)) == 3
    parsed = ParsedTexts(Observation, size=2)
    first = parsed.parse(texts[0])
    assert parsed.parse(texts[0]) is first and first == Observation.model_validate_json(texts[0])
    parsed.parse(texts[1])
    parsed.parse(texts[2])   # the third text: the first, least recently used, is forgotten
    again = parsed.parse(texts[0])
    assert again == first and again is not first


class Changeable(BaseModel):
    value: int


def test_parsed_texts_take_only_frozen_models():
    with pytest.raises(TypeError, match="not frozen"):
        ParsedTexts(Changeable)


def test_views_kept_by_entry_are_those_of_every_version_of_the_record():
    """Entry views are made once per entry object (``libs.kernel.views.ByIdentity``): along a
    whole history, where each version shares its unchanged entries with the one before, every
    overview is what a deep copy (all new objects, every view made afresh) gives."""
    patient_id = uuid.uuid4()
    events = every_event(patient_id)
    observations = list(fold_observations(events).values())
    patient = pt.Patient.unknown(patient_id)
    compared = 0
    for event in events:
        patient = pt.evolve(patient, event)
        if not patient.registered:
            continue
        for hidden in (frozenset(), frozenset({"episodes"})):
            kept = views.overview(patient, observations, NOW, hidden, HISTORY_NURSE_HPR)
            fresh = views.overview(patient.model_copy(deep=True),
                                   [o.model_copy(deep=True) for o in observations], NOW, hidden,
                                   HISTORY_NURSE_HPR)
            assert orjson.dumps(kept) == orjson.dumps(fresh)
            compared += 1
    assert compared > 60
    # the same entry twice: one view, made once
    note = next(n for n in patient.notes if n.status == "signed")
    assert views.note_view(note) is views.note_view(note)
