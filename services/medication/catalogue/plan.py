"""Loading a catalogue, a pure diff: ``plan_load`` diffs a new extract against the loaded state
(idempotent by id; entries missing from the new extract are marked expired, never deleted) and
``apply_plan`` gives the state after it, which a loader writes in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Generic, TypeVar

from libs.kernel.model import Frozen
from services.medication.catalogue.loaded import Catalogue
from services.medication.catalogue.model import (
    CatalogueError, Extract, ExtractHeader, Interaction, Product, Substance,
)

T = TypeVar("T", Substance, Product, Interaction)


class KindPlan(Frozen, Generic[T]):
    """What loading does to one kind of entry. Every id of the new extract or the loaded state
    is in exactly one bucket. ``restored``: was expired, is back (written from the new extract)."""

    added: tuple[T, ...] = ()
    changed: tuple[T, ...] = ()
    restored: tuple[T, ...] = ()
    unchanged: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()  # newly missing: mark expired as of the new extract's date
    still_expired: tuple[str, ...] = ()  # missing before and now: keep the earlier date

    @property
    def writes(self) -> tuple[T, ...]:
        """Entries to insert or overwrite, each no longer expired."""
        return self.added + self.changed + self.restored

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("added", "changed", "restored", "unchanged", "expired", "still_expired")}


class LoadPlan(Frozen):
    """Loading one extract onto a state. A loader applies it in one transaction: upsert
    ``writes`` (clearing their expiry), set ``expired`` entries' expiry to ``extract_date``,
    store the header; ``apply_plan`` is the same in memory."""

    extract: ExtractHeader
    previous: ExtractHeader | None
    substances: KindPlan[Substance]
    products: KindPlan[Product]
    interactions: KindPlan[Interaction]

    @property
    def extract_date(self) -> date:
        return self.extract.extract_date

    @property
    def kinds(self) -> dict[str, KindPlan[Any]]:
        return {"substances": self.substances, "products": self.products,
                "interactions": self.interactions}

    @property
    def is_noop(self) -> bool:
        """Nothing to write: the same extract was loaded already."""
        return self.extract == self.previous and not any(
            k.writes or k.expired for k in self.kinds.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: kind.counts() for name, kind in self.kinds.items()}

    def summary(self) -> str:
        """E.g. ``extract of 2026-11-29 (sample): products 50 added, …; substances …``."""
        parts = []
        for name, counts in self.counts().items():
            shown = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items() if n)
            parts.append(f"{name} {shown or 'none'}")
        sample = " (sample)" if self.extract.sample else ""
        return f"extract of {self.extract_date.isoformat()}{sample}: " + "; ".join(parts)


def _diff(
    plan: type[KindPlan[T]], old: Mapping[str, T], expired: Mapping[str, date], new: tuple[T, ...]
) -> KindPlan[T]:
    added: list[T] = []
    changed: list[T] = []
    restored: list[T] = []
    unchanged: list[str] = []
    for item in new:
        before = old.get(item.id)
        if before is None:
            added.append(item)
        elif item.id in expired:
            restored.append(item)
        elif before != item:
            changed.append(item)
        else:
            unchanged.append(item.id)
    present = {item.id for item in new}
    gone = [entry_id for entry_id in old if entry_id not in present]
    return plan(
        added=tuple(added), changed=tuple(changed), restored=tuple(restored),
        unchanged=tuple(unchanged),
        expired=tuple(i for i in gone if i not in expired),
        still_expired=tuple(i for i in gone if i in expired),
    )


def plan_load(current: Catalogue | None, new: Extract, *, allow_older: bool = False) -> LoadPlan:
    """What loading ``new`` onto ``current`` (None: nothing loaded yet) would do.

    Idempotent: planning the same extract against the state after it is a no-op. Never deletes.
    An extract older than the loaded one is refused unless ``allow_older`` (a deliberate
    rollback), so a stale file cannot silently expire newer products.
    """
    if current is not None and new.extract_date < current.extract_date and not allow_older:
        raise CatalogueError([
            f"The extract of {new.extract_date.isoformat()} is older than the loaded catalogue "
            f"({current.extract_date.isoformat()}); load it with allow_older to roll back."
        ])
    expired = current.expired if current else {}
    return LoadPlan(
        extract=new.header,
        previous=current.header if current else None,
        substances=_diff(KindPlan[Substance], current.substances if current else {}, expired,
                         new.substances),
        products=_diff(KindPlan[Product], current.products if current else {}, expired,
                       new.products),
        interactions=_diff(KindPlan[Interaction], current.interactions if current else {},
                           expired, new.interactions),
    )


def apply_plan(current: Catalogue | None, plan: LoadPlan) -> Catalogue:
    """The state after loading: what a loader's transaction leaves in the database."""
    if plan.previous != (current.header if current else None):
        raise CatalogueError(["The load plan was made against another catalogue state; "
                              "plan again against the current one."])
    expired = dict(current.expired) if current else {}

    def merged(old: Mapping[str, T], kind: KindPlan[T]) -> dict[str, T]:
        entries = dict(old)
        for item in kind.writes:
            entries[item.id] = item
            expired.pop(item.id, None)
        for entry_id in kind.expired:
            expired[entry_id] = plan.extract_date
        return entries

    return Catalogue(
        header=plan.extract,
        substances=merged(current.substances if current else {}, plan.substances),
        products=merged(current.products if current else {}, plan.products),
        interactions=merged(current.interactions if current else {}, plan.interactions),
        expired=expired,
    )
