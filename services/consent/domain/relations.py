"""Who may start a care relation on ``POST /patients/{id}/care-relations``, and for how long
(issue 12; DOMAIN.md AC2, AC3, AC12, AC13, requirements 9, 10, 14).

Care relations come from the facts that justify them:

- the journal: a registration, an episode (a legevakt contact is a legevakt episode), an
  application, a service decision, an inbound message the unit must answer; the consent
  service's ``journal_bridge`` turns each into a relation of the unit that holds the fact
  (``source="journal"``), not this route;
- the data controller (AC3): a unit leader assigns a relation to their own unit, or to a named
  professional of it, with a stated basis and reason (``source="assigned"``);
- the professional themself, only where their organisation's policy allows it (per organisation
  number and role, off by default) and only for a patient their organisation already treats (a
  relation of it from the journal or the unit leader): named to them, time-limited like
  emergency access, and always a review item for the unit leader (``source="self_declared"``).

Anyone else, health personnel outside the patient's treating organisations among them, gets the
generic denial, which never says whether the patient exists: they have emergency access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

from libs.access.model import Facts, Practitioner, RelationSource, Role
from libs.events.registry import EventPayload
from libs.kernel.errors import Forbidden, Invalid
from services.consent import contract as ev
from services.consent.domain.commands import StartCareRelation

TEN_YEARS = timedelta(days=3653)
FACT_SOURCES = frozenset({"journal", "assigned"})


@dataclass(frozen=True)
class RelationRules:
    """The organisations' policy on self-declared relations (from ``ConsentSettings``)."""

    self_declared: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    """organisation number (legal entity or unit) -> the roles that may declare one"""
    self_declared_hours: float = 4.0
    self_declared_max_hours: float = 24.0
    longest: timedelta = TEN_YEARS
    """how far ahead an assigned relation's end may lie"""

    def allows_self_declared(self, who: Practitioner) -> bool:
        roles = (self.self_declared.get(who.org_parent, frozenset())
                 | self.self_declared.get(who.unit, frozenset()))
        return bool(roles & who.roles)


DEFAULT_RULES = RelationRules()   # no organisation allows self-declared relations


def treats(f: Facts, who: Practitioner, now: datetime) -> bool:
    """The professional's organisation treats the patient: it holds an active relation that came
    from a journal fact or the unit leader."""
    return any(r.source in FACT_SOURCES and r.active(now) and r.of_organisation(who)
               for r in f.care_relations)


def relation_source(f: Facts, c: StartCareRelation, by: Practitioner, now: datetime,
                    rules: RelationRules) -> RelationSource | None:
    """How this professional may start this relation, or None (the generic denial)."""
    if Role.unit_leader in by.roles:
        return "assigned"
    if (by.hpr is not None and c.hpr in (None, by.hpr) and rules.allows_self_declared(by)
            and treats(f, by, now)):
        return "self_declared"
    return None


def plausible_end(ends_at: datetime | None, now: datetime, latest: timedelta,
                  what: str = "ends_at") -> datetime | None:
    """``ends_at`` in the future and at most ``latest`` ahead (422 otherwise, never an overflow:
    ``9999-12-31T23:59:59-14:00`` is refused, not converted)."""
    if ends_at is None:
        return None
    try:
        ahead = ends_at - now
    except OverflowError:   # year 1 or 9999 with an offset: beyond any UTC instant
        ahead = timedelta.max if ends_at.year > now.year else -timedelta.max
    if ahead <= timedelta(0):
        raise Invalid(f"{what} must be in the future")
    if ahead > latest:
        raise Invalid(f"{what} lies too far ahead: at most {_span(latest)} from now")
    return ends_at


def _span(d: timedelta) -> str:
    if d >= timedelta(days=365):
        return f"{round(d.days / 365.25)} years"
    return f"{d / timedelta(hours=1):g} hours"


def start_care_relation(f: Facts, c: StartCareRelation, by: Practitioner, now: datetime,
                        source: RelationSource, rules: RelationRules) -> list[EventPayload]:
    """The relation, decided again on the current facts: ``source`` is what the route logged."""
    if relation_source(f, c, by, now, rules) != source:
        raise Forbidden("Du har ikke tjenstlig behov for disse opplysningene. "
                        "You have no need-to-know for this information.")
    if source == "self_declared":
        longest = timedelta(hours=rules.self_declared_max_hours)
        ends = plausible_end(c.ends_at, now, longest) or now + timedelta(
            hours=min(rules.self_declared_hours, rules.self_declared_max_hours))
        hpr = by.hpr
    else:
        ends, hpr = plausible_end(c.ends_at, now, rules.longest), c.hpr
    return [ev.CareRelationStarted(
        relation_id=uuid4(), unit=by.unit, org_parent=by.org_parent, hpr=hpr, purpose=c.purpose,
        basis=c.basis, basis_ref=c.basis_ref, started_at=now, ends_at=ends, source=source,
        reason=c.reason, declared_by=by.hpr)]
