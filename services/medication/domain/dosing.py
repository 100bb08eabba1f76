"""Structured doses: checking one as a client sends it, its planned times in a day, and how much
it is per day (for the maximum-dose check and the administration chart).

A dose is exactly one of: fixed Oslo ``times_of_day`` (e.g. 08:00 and 20:00), ``times_per_day``
(planned at the standard times in ``STANDARD_TIMES``, [inference: the usual medicine rounds in
Norwegian home care and nursing homes; 5 or more a day are spread evenly from 08:00]), or
``as_needed`` (ved behov) with a ``max_per_day`` in the dose's unit. The amount per day is the
amount times the number of planned times, or for an as-needed dose its maximum per day.
"""

from __future__ import annotations

import math
from datetime import time

from pydantic import Field

from libs.kernel.errors import Invalid
from services.medication.domain import Command
from services.medication.contract import Dose, Route

STANDARD_TIMES: dict[int, tuple[time, ...]] = {
    1: (time(8),),
    2: (time(8), time(20)),
    3: (time(8), time(14), time(20)),
    4: (time(8), time(12), time(16), time(20)),
}


class DoseIn(Command):
    """A dose as a client sends it; checked and turned into ``events.Dose`` by ``to_dose``."""

    amount: float
    unit: str = Field(max_length=20, description="e.g. mg, tablett, ml, IE")
    route: Route = "oral"
    times_of_day: list[time] = Field(default=[], max_length=24,
                                     description="Oslo wall-clock times, e.g. 08:00")
    times_per_day: int | None = None
    as_needed: bool = False
    max_per_day: float | None = Field(default=None, description="as needed: the most per day, "
                                      "in the dose's unit")
    instructions: str | None = Field(default=None, max_length=500)


def to_dose(d: DoseIn, what: str = "dose") -> Dose:
    if not (math.isfinite(d.amount) and d.amount > 0):
        raise Invalid(f"{what}.amount: a dose is more than zero.")
    if not (unit := d.unit.strip()):
        raise Invalid(f"{what}.unit: name the unit of the dose (e.g. mg or tablett).")
    given = sum((bool(d.times_of_day), d.times_per_day is not None, d.as_needed))
    if given != 1:
        raise Invalid(f"{what}: give exactly one of times_of_day, times_per_day or as_needed.")
    if any(t.tzinfo is not None for t in d.times_of_day):
        raise Invalid(f"{what}.times_of_day are Oslo wall-clock times without a time zone.")
    times = tuple(sorted(t.replace(second=0, microsecond=0) for t in d.times_of_day))
    if len(set(times)) != len(times):
        raise Invalid(f"{what}.times_of_day: each time of day is given once.")
    if d.times_per_day is not None and not 1 <= d.times_per_day <= 24:
        raise Invalid(f"{what}.times_per_day is between 1 and 24.")
    if d.as_needed:
        if d.max_per_day is None or not math.isfinite(d.max_per_day):
            raise Invalid(f"{what}: an as-needed dose needs a max_per_day.")
        if d.max_per_day < d.amount:
            raise Invalid(f"{what}.max_per_day ({d.max_per_day:g} {unit}) is less than one "
                          f"dose ({d.amount:g} {unit}).")
    elif d.max_per_day is not None:
        raise Invalid(f"{what}.max_per_day is only for an as-needed dose.")
    return Dose(amount=d.amount, unit=unit, route=d.route, times_of_day=times,
                times_per_day=d.times_per_day, as_needed=d.as_needed,
                max_per_day=d.max_per_day, instructions=(d.instructions or "").strip() or None)


def planned_times(dose: Dose) -> tuple[time, ...]:
    """The Oslo wall-clock times a dose is planned at; none for an as-needed dose."""
    if dose.as_needed:
        return ()
    if dose.times_of_day:
        return dose.times_of_day
    n = dose.times_per_day or 1
    if n in STANDARD_TIMES:
        return STANDARD_TIMES[n]
    minutes = (8 * 60 + round(i * 24 * 60 / n) for i in range(n))
    return tuple(sorted(time((m // 60) % 24, m % 60) for m in minutes))


def daily_amount(dose: Dose) -> float:
    """How much per day in the dose's unit: the maximum per day for an as-needed dose."""
    if dose.as_needed:
        return dose.max_per_day or dose.amount
    return dose.amount * len(planned_times(dose))


def nb(x: float) -> str:
    """A number as Norwegian text shows it: 1,5 (not 1.5); whole numbers without decimals."""
    return f"{x:g}".replace(".", ",")


def describe(dose: Dose) -> str:
    """A short Norwegian rendering, e.g. "2 tablett kl. 08:00, 20:00" or "1,5 tablett kl.
    18:00" (for lists, charts and history)."""
    if dose.as_needed:
        return (f"{nb(dose.amount)} {dose.unit} ved behov, maks {nb(dose.max_per_day or 0)} "
                "per døgn")
    times = ", ".join(t.strftime("%H:%M") for t in planned_times(dose))
    return f"{nb(dose.amount)} {dose.unit} kl. {times}"
