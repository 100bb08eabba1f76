"""Random rounding of published counts, the other way small cells are protected
(requirement 42; ``EHR_REGISTRY_PROTECTION=round``, instead of suppression with ".").

Every published number, inner cells and totals alike, is rounded on its own to a multiple of
the base (3 by default: "random rounding to base 3", as Statistics New Zealand and the UK's ONS
publish census tables). A count ``n = q·b + r`` goes up to ``(q + 1)·b`` with probability
``r / b`` and down to ``q·b`` otherwise, so:

- the rounded count is unbiased (its expected value is ``n``) and never further than ``b - 1``
  from it;
- a count that is a multiple of the base, 0 too, stays as it is;
- a count from 1 to ``b - 1`` is published as 0 or ``b``, never as itself.

**The same table gives the same numbers.** A cell's draw is an HMAC-SHA256 of the cell's
identity (table kind, period, municipality, age band, sex, service group) under a secret key,
not a fresh random number: downloading a table many times and averaging does not bring the
true count back, and without the key nobody can tell which way a cell went. Rounded totals do
not add up to their rounded parts; that is what keeps the parts from being worked out, and the
published note says so.

``EHR_REGISTRY_PROTECTION=controlled`` rounds a table's cells with the same draws but so that
its totals add up (``controlled.py``); a number published on its own is rounded as here.

Pure: numbers in, numbers out.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Rounding:
    key: bytes
    base: int = 3
    controlled: bool = False   # True: tables by controlled rounding (``controlled.py``)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("random rounding needs a secret key (EHR_REGISTRY_ROUNDING_KEY)")
        if self.base < 2:
            raise ValueError("the rounding base is at least 2")

    def draw(self, ident: str) -> float:
        """The cell's draw in [0, 1): fixed for the cell, unknown without the key."""
        digest = hmac.new(self.key, ident.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def round(self, n: int, ident: str) -> int:
        q, r = divmod(n, self.base)
        return (q + (self.draw(ident) < r / self.base)) * self.base
