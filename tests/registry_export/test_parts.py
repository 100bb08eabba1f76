"""A person is the merge of their streams' parts (``domain/person.py``), pure: each part is
folded from its own stream only, moves on with every event of it (so a part that is behind
shows), takes nothing twice, and the merged person does not depend on the order the parts
come in; the journal's birth year wins over the consent service's."""

from __future__ import annotations

import random
import uuid
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from cli.manifests import registry
from libs.access.events import PersonRegistered
from services.registry_export.domain.person import Person, advance, merge, part_key, version
from services.registry_export.domain.synthetic import person_events
from tests.registry_export.support import accesses, envelopes

REG = registry()


def _parts(seed: int) -> tuple[uuid.UUID, dict[str, Person]]:
    rng = random.Random(seed)
    pid = uuid.UUID(int=rng.getrandbits(128))
    journal = envelopes(pid, person_events(rng, slot=seed, year=2025, municipality="0301",
                                           others=("1103",)))
    consent = envelopes(pid, [PersonRegistered(national_id="01010112345", id_type="fnr",
                                               birth_date=date(1900, 1, 1))], prefix="consent")
    parts: dict[str, Person] = {}
    for env in journal + accesses(pid, 4) + consent:
        env, payload = REG.load(env)
        before = parts.get(env.stream_id)
        snapshot = before.model_dump() if before is not None else None
        changed = advance(before, env, payload)
        assert changed is not None and version(changed) == env.stream_version
        assert before is None or before.model_dump() == snapshot   # the old part as it was
        parts[env.stream_id] = changed
        assert advance(changed, env, payload) is None   # seen again: nothing
    return pid, parts


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.randoms(use_true_random=False))
def test_the_merge_of_the_parts_does_not_depend_on_their_order(seed, rnd):
    pid, parts = _parts(seed)
    shuffled = list(parts.values())
    rnd.shuffle(shuffled)
    person = merge(shuffled)
    assert person == merge(parts.values())
    journal = parts[f"journal-{pid}"]
    assert person.birth_year == journal.birth_year != 1900   # the journal's, not consent's
    assert person.accesses == 4 and person.services == journal.services
    assert set(person.seen) == set(parts)


def test_an_event_the_registry_ignores_still_moves_its_part_on():
    pid = uuid.uuid4()
    first, second = envelopes(pid, [PersonRegistered(
        national_id="01010112345", id_type="fnr", birth_date=date(1950, 1, 1))] * 2,
        prefix="consent")
    part = advance(None, *REG.load(first))
    assert part is not None and part.birth_year == 1950
    again = advance(part, *REG.load(second))   # the birth year is known: no fact changes
    assert again is not None and version(again) == 2 and again.birth_year == 1950
    assert part_key(pid, first.stream_id) == f"{pid}/consent-{pid}"
