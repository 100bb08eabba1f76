"""The access log's hash chain (DOMAIN.md §11 req. 13): pure functions, no I/O.

Every ``AccessLogged`` entry carries ``chain``, ``seq`` (1, 2, ...), ``prev_hash`` (the previous
entry's ``hash``; 64 zeros for the first) and ``hash = sha256(prev_hash + canonical(entry))``,
where the canonical form is the entry's JSON without ``hash``: sorted keys, no whitespace,
datetimes as ISO-8601 in UTC. Editing, deleting, reordering or duplicating an entry therefore
shows up as a hash mismatch, a gap, an out-of-order or a repeated ``seq``.

One chain per (writer, patient): ``chain = "<writer>:<patient_id>"``, where the writer is the
service (``journal``) or one of its writer slots (``journal.1``: a second replica or API worker
process, :mod:`libs.audit.log`). Each service writes its log through its own event store and
outbox, and the chain head must be claimed in the same transaction as the entry (optimistic
concurrency on the stream ``audit-<writer>-<patient>``). A chain shared by services would need
a cross-service lock on every read, and one shared by a service's processes costs a retried
batch whenever another moved it first; a chain per writer and patient is linearised by one
process in its service's own database, and the patient's whole access history is still the
merge of the chains by ``accessed_at``. All of one patient's entries share a Kafka partition
(key = patient id), so each chain stays in order on the topic.

Limits: a chain proves the *inside* of the log. Cutting off its newest entries, or rewriting a
whole suffix and re-hashing it, is only visible against an anchor kept elsewhere (the stream
version in ``streams``, the copy on Kafka): pass it as ``expected_heads``.

Hashes are computed from the JSON as stored, never from a re-parsed model, so fields added to
``AccessLogged`` later (additive schema changes) never invalidate older entries.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal, NamedTuple
from uuid import UUID

import orjson

GENESIS = "0" * 64
CHAIN_FIELDS = ("chain", "seq", "prev_hash", "hash")
Kind = Literal["altered", "missing", "reordered", "duplicate"]


def chain_id(writer: str, patient_id: UUID | str) -> str:
    """``writer``: the service, or ``<service>.<slot>`` for a writer slot other than 0."""
    return f"{writer}:{patient_id}"


def iso_utc(dt: datetime) -> str:
    """The one text form of a datetime in the log (also AccessLogged's JSON form)."""
    return dt.astimezone(UTC).isoformat()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    raise TypeError(f"{type(value).__name__} is not part of a log entry")


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=_jsonable).encode
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME   # datetimes by _jsonable


def _dumps(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: orjson (3.5 against 9.7 µs for an entry), or
    the standard library's encoder for what orjson refuses (an integer beyond 64 bits, a
    non-string key, a lone surrogate); the same bytes either way for every value a log entry
    holds. (Floats would differ, ``1e+16`` against ``1e16``: an entry has none.)"""
    try:
        return orjson.dumps(value, default=_jsonable, option=_SORTED)
    except orjson.JSONEncodeError:
        return _encode(value).encode()


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The entry's canonical JSON without its ``hash`` (JSON values or Python values alike)."""
    return _dumps({k: v for k, v in entry.items() if k != "hash"})


def entry_json(entry: Mapping[str, Any]) -> bytes:
    """A chained entry's JSON as the log stores it: the canonical form with its ``hash``."""
    return _dumps(entry)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(entry["prev_hash"].encode() + canonical(entry)).hexdigest()


class Head(NamedTuple):
    """The newest entry of a chain: the next entry gets ``seq + 1`` and links to ``hash``."""

    seq: int
    hash: str


EMPTY = Head(0, GENESIS)


def link(fields: dict[str, Any], chain: str, head: Head) -> Head:
    """Chain one entry in place after ``head``; returns the new head."""
    fields["chain"], fields["seq"], fields["prev_hash"] = chain, head.seq + 1, head.hash
    fields.pop("hash", None)
    fields["hash"] = h = entry_hash(fields)
    return Head(head.seq + 1, h)


def chain(entries: Iterable[Mapping[str, Any]], head: Head | None = None, *,
          chain_id: str | None = None) -> list[dict[str, Any]]:
    """Copies of ``entries`` with seq/prev_hash/hash assigned after ``head`` (``chain`` from
    ``chain_id``, or each entry's own ``chain`` field)."""
    head = head or EMPTY
    out = []
    for e in entries:
        d = dict(e)
        head = link(d, chain_id if chain_id is not None else d["chain"], head)
        out.append(d)
    return out


@dataclass(frozen=True, order=True)
class Problem:
    chain: str
    seq: int
    kind: Kind
    message: str


@dataclass
class _Chain:
    max_seq: int = 0
    max_hash: str = GENESIS
    max_ok: bool = True          # the entry at max_seq was not itself altered
    gaps: list[list[int]] = field(default_factory=list)   # sorted [lo, hi] seqs not yet seen

    def take_gap(self, seq: int) -> bool:
        """Remove ``seq`` from the gaps; False if it was not missing (a repeat)."""
        i = bisect_right(self.gaps, [seq, float("inf")]) - 1
        if i < 0 or not self.gaps[i][0] <= seq <= self.gaps[i][1]:
            return False
        lo, hi = self.gaps.pop(i)
        self.gaps[i:i] = [r for r in ([lo, seq - 1], [seq + 1, hi]) if r[0] <= r[1]]
        return True


class Verifier:
    """Checks entries one at a time in stored order (memory per chain, not per entry)."""

    def __init__(self) -> None:
        self.chains: dict[str, _Chain] = {}
        self.problems: list[Problem] = []
        self.entries = 0

    def add(self, entry: Mapping[str, Any]) -> None:
        self.entries += 1
        name, seq = entry.get("chain"), entry.get("seq")
        if not isinstance(name, str) or not isinstance(seq, int) or isinstance(seq, bool) \
                or seq < 1 or not isinstance(entry.get("prev_hash"), str):
            self._report(str(name), seq if isinstance(seq, int) else 0, "altered",
                         "entry has no valid chain, seq or prev_hash")
            return
        c = self.chains.setdefault(name, _Chain())
        ok = entry.get("hash") == entry_hash(entry)
        if not ok:
            self._report(name, seq, "altered", f"entry {seq}: content does not match its hash")
        if seq == c.max_seq + 1:
            if ok and c.max_ok and entry["prev_hash"] != c.max_hash:
                self._report(name, seq, "altered", f"entry {seq} does not link to entry "
                             f"{seq - 1}: one of them was rewritten or replaced")
        elif seq > c.max_seq + 1:
            c.gaps.append([c.max_seq + 1, seq - 1])
        elif c.take_gap(seq):
            self._report(name, seq, "reordered", f"entry {seq} is stored after entry {c.max_seq}")
            return
        else:
            self._report(name, seq, "duplicate", f"entry {seq} appears more than once")
            return
        c.max_seq, c.max_hash, c.max_ok = seq, str(entry.get("hash")), ok

    def finish(self, expected_heads: Mapping[str, int] | None = None) -> list[Problem]:
        """All problems found, including gaps and (given an anchor) cut-off newest entries."""
        for name, c in self.chains.items():
            for lo, hi in c.gaps:
                self._missing(name, lo, hi)
        for name, head in (expected_heads or {}).items():
            have = self.chains[name].max_seq if name in self.chains else 0
            if head > have:
                self._missing(name, have + 1, head)
        return sorted(self.problems)

    def _missing(self, name: str, lo: int, hi: int) -> None:
        what = f"entry {lo} is" if lo == hi else f"entries {lo}–{hi} are"
        self._report(name, lo, "missing", f"{what} missing")

    def _report(self, name: str, seq: int, kind: Kind, message: str) -> None:
        self.problems.append(Problem(name, seq, kind, message))


def verify(entries: Iterable[Mapping[str, Any]],
           expected_heads: Mapping[str, int] | None = None) -> list[Problem]:
    """Problems in ``entries`` (in stored order; chains may be interleaved). ``expected_heads``
    maps a chain to the seq its newest entry must have, to catch a cut-off tail."""
    v = Verifier()
    for e in entries:
        v.add(e)
    return v.finish(expected_heads)
