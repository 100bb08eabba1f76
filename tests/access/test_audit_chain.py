"""The access log's hash chain, pure: every single edit, deletion, reordering or duplicate of an
entry is detected, with the right kind and seq."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.audit.log import AccessEntry, entry_for
from libs.audit.chain import (EMPTY, GENESIS, Head, canonical, chain, entry_hash, link,
                                     verify)
from libs.access.model import Action, Basis, Decision, Practitioner, Resource, Role

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DOC = Practitioner(person_id="sub-1", hpr="1234567", name="Kari Lege", org_parent="974589095",
                   org_child="974589001", roles=frozenset({Role.physician}))


def entry(i: int, service: str = "journal") -> dict:
    pid = uuid.UUID(int=7)
    decision = Decision(permit=i % 3 != 0, reason="care_relation" if i % 3 else "no_relation",
                        message="-", basis=Basis.care_relation if i % 3 else Basis.none)
    e = entry_for(DOC, Action.read, Resource(patient_id=pid), decision, service=service,
                  resources=[f"Observation/{i}"], purpose="TREAT", now=T0 + timedelta(minutes=i))
    return e.model_dump(mode="json")


def log(n: int, chain_name: str = "journal:p1") -> list[dict]:
    return chain([entry(i) for i in range(n)], chain_id=chain_name)


def kinds(problems) -> set[tuple[str, int]]:
    return {(p.kind, p.seq) for p in problems}


def test_an_intact_chain_verifies_and_links_every_entry():
    entries = log(5)
    assert verify(entries) == []
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert all(entry_hash(e) == e["hash"] for e in entries)


def test_canonical_form_is_sorted_compact_utc_and_ignores_the_hash():
    e = entry(1)
    text = canonical(e | {"hash": "x"}).decode()
    assert text == canonical(e).decode() and " " not in text.replace("Kari Lege", "")
    assert text.index('"action"') < text.index('"service"')
    oslo = AccessEntry.model_validate(e | {"accessed_at": "2026-03-01T09:01:00+01:00"})
    assert oslo.model_dump(mode="json")["accessed_at"] == "2026-03-01T08:01:00+00:00"
    # Python values and their JSON form hash alike (the writer hashes the former)
    python = dict(AccessEntry.model_validate(e).__dict__)
    assert canonical(python) == canonical(e)


def test_chaining_continues_after_a_head():
    first = log(2)
    more = chain([entry(9)], Head(2, first[-1]["hash"]), chain_id="journal:p1")
    assert more[0]["seq"] == 3 and verify(first + more) == []
    assert kinds(verify(more)) == {("missing", 1)}


def test_an_edited_entry_is_altered():
    entries = log(5)
    entries[2] = entries[2] | {"outcome": "deny"}
    assert kinds(verify(entries)) == {("altered", 3)}


def test_a_rewritten_and_rehashed_entry_breaks_the_link():
    entries = log(5)
    forged = entries[2] | {"resources": []}
    forged["hash"] = entry_hash(forged)
    entries[2] = forged
    assert kinds(verify(entries)) == {("altered", 4)}


def test_a_deleted_entry_is_missing():
    entries = log(5)
    del entries[1]
    problems = verify(entries)
    assert kinds(problems) == {("missing", 2)}
    assert "entry 2 is missing" in problems[0].message


def test_a_cut_off_tail_is_missing_only_against_an_anchor():
    entries = log(5)[:3]
    assert verify(entries) == []
    assert kinds(verify(entries, {"journal:p1": 5})) == {("missing", 4)}


def test_swapped_entries_are_reordered():
    entries = log(5)
    entries[1], entries[3] = entries[3], entries[1]
    found = kinds(verify(entries))
    assert found and {k for k, _ in found} == {"reordered"}
    assert found & {("reordered", 2), ("reordered", 3)}


def test_a_duplicated_entry_is_a_duplicate():
    entries = log(4)
    entries.insert(3, dict(entries[2]))
    assert kinds(verify(entries)) == {("duplicate", 3)}


def test_chains_are_checked_separately_even_when_interleaved():
    a, b = log(3, "journal:a"), log(3, "medication:a")
    mixed = [a[0], b[0], b[1], a[1], a[2], b[2]]
    assert verify(mixed) == []
    del mixed[2]
    assert {(p.chain, p.kind, p.seq) for p in verify(mixed)} == {("medication:a", "missing", 2)}


def test_unreadable_entries_are_reported_not_raised():
    assert kinds(verify([{"chain": "x", "seq": "one"}])) == {("altered", 0)}


def test_link_returns_the_new_head():
    fields = entry(1)
    head = link(fields, "c", EMPTY)
    assert head == Head(1, fields["hash"]) and fields["chain"] == "c"


MUTATIONS = ("edit", "delete", "swap", "duplicate")


@st.composite
def logs_and_a_mutation(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    chains = [chain([entry(i) for i in range(n)], chain_id=f"svc:{c}")
              for c, n in enumerate(sizes)]
    order = draw(st.permutations([c for c, n in enumerate(sizes) for _ in range(n)]))
    cursors = [iter(c) for c in chains]
    entries = [dict(next(cursors[c])) for c in order]
    mutation = draw(st.sampled_from(MUTATIONS))
    i = draw(st.integers(0, len(entries) - 1))
    if mutation == "edit":
        key = draw(st.sampled_from(sorted(entries[i])))
        new = draw(st.one_of(st.none(), st.booleans(), st.integers(-2, 10), st.text(max_size=3),
                             st.lists(st.text(max_size=2), max_size=2)))
        if new == entries[i][key] and type(new) is type(entries[i][key]):
            new = [new]
        entries[i][key] = new
    elif mutation == "delete":
        del entries[i]
    elif mutation == "duplicate":
        entries.insert(draw(st.integers(0, len(entries))), dict(entries[i]))
    else:
        same = [j for j, e in enumerate(entries) if e["chain"] == entries[i]["chain"] and j != i]
        if not same:
            entries.insert(i + 1, dict(entries[i]))  # a one-entry chain: duplicate instead
        else:
            j = draw(st.sampled_from(same))
            entries[i], entries[j] = entries[j], entries[i]
    return entries, {f"svc:{c}": n for c, n in enumerate(sizes)}, mutation


@settings(max_examples=400, deadline=None)
@given(logs_and_a_mutation())
def test_any_single_mutation_is_detected(case):
    entries, heads, mutation = case
    assert verify(entries, heads), f"{mutation} went unnoticed"


def _reference(value):   # the canonical form's definition: ISO-8601 in UTC, ids as text
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    raise TypeError(value)


TEXT = st.text(st.characters(exclude_categories=("Cs",)))   # no lone surrogates (UTF-8 has none)
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | TEXT | st.uuids()
           | st.dates() | st.datetimes(timezones=st.builds(
               timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_the_canonical_form_is_sorted_compact_utf8_json_whatever_an_entry_holds(entry):
    """canonical() writes with orjson: byte for byte the standard library's sorted compact JSON
    that every chain so far was hashed over (control characters, quotes, non-BMP text, large
    integers, datetimes in any offset)."""
    reference = json.dumps({k: v for k, v in entry.items() if k != "hash"}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, default=_reference)
    assert canonical(entry) == reference.encode()
