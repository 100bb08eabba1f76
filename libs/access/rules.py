"""The data-driven part of the access rules (AC17: the law is being reformed, so its ages and
lists are data): the policy decides by them, and a service's domain checks what it accepts
against the same numbers (a mandate giver's age, a parent's limited view)."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.access.model import Sector


@dataclass(frozen=True)
class PolicyConfig:
    """The data-driven part of the rules (AC17: the law is being reformed; keep rules in data)."""

    guardian_full_until: int = 12        # under 12: full proxy if a parent shares the address
    guardian_limited_until: int = 16     # 12–16: limited proxy; from 16 none (pasrl § 3-4)
    mandate_giver_min_age: int = 16
    mandate_receiver_min_age: int = 18
    # what parents of a 12–16-year-old may see on helsenorge (KJ, documents, messages are not)
    guardian_categories_12_16: frozenset[str] = field(default_factory=lambda: frozenset(
        {"medication", "appointments", "vaccinations", "consents"}))
    # sectors whose access needs a consent covering the category (AC5, req 17)
    consent_sectors: frozenset[Sector] = frozenset(
        {Sector.school, Sector.kindergarten, Sector.ppt, Sector.municipal_other, Sector.nav})
    emergency_hours: float = 4.0


DEFAULT = PolicyConfig()
