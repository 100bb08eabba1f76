"""The access policy: one pure function that every service calls before it touches patient data.

``decide(subject, action, resource, facts, now)`` answers permit or deny, the reason, the legal
basis and the obligations (log, mark emergency, review, hide restricted parts, notify the
patient). It does no I/O: the facts are projected locally from ``consent.events``. The rules and
their sources are DOMAIN.md §4 (AC1–AC17), §9 and requirements 9–11, 17–22, 49–51.

Order of the rules for a professional (the order is the law's, not an accident):
1. a block by the patient wins over everything, emergency access included (AC11, AC12);
2. an active care relation for the person or their unit gives need-to-know (AC2, AC3, req 9);
3. otherwise an unexpired emergency access (AC12, req 10);
4. otherwise deny.

A self-declared care relation (``source == "self_declared"``) gives need-to-know only with the
``review`` obligation: nobody reads through a relation they declared themself without the unit
leader seeing it. Emergency access to a patient the access model does not know (no
``PersonRegistered``), or whom the patient has blocked the caller from, is denied with the same
generic text as no access at all: the answer never tells whether the patient exists.
"""

from __future__ import annotations

from datetime import datetime

from libs.access.model import (
    Action, Basis, Citizen, Decision, DeclaredBasis, Device, Facts, Obligation, Practitioner,
    Resource, RestrictionKind, Role, Sector, SectorOfficial,
)
from libs.access.rules import DEFAULT, PolicyConfig
from libs.kernel.time import OSLO, age_on, local_day

__all__ = ["DEFAULT", "OSLO", "PolicyConfig", "age_on", "decide", "local_day", "not_found_safe"]


DENY_GENERIC = ("no_access", "Du har ikke tjenstlig behov for disse opplysningene. "
                "You have no need-to-know for this information.")


def deny(reason: str, message: str, obligations: frozenset[Obligation] = frozenset(
        {Obligation.log})) -> Decision:
    return Decision(permit=False, reason=reason, message=message, obligations=obligations)


def not_found_safe() -> Decision:
    """The denial an unauthorised caller gets, the same whether the patient exists or not."""
    return deny(*DENY_GENERIC)



def decide(subject: Practitioner | Citizen | SectorOfficial | Device, action: Action,
           resource: Resource, facts: Facts, now: datetime,
           config: PolicyConfig = DEFAULT) -> Decision:
    if facts.patient_id != resource.patient_id:
        raise ValueError("facts are for another patient than the resource")
    match subject:
        case Practitioner():
            return _practitioner(subject, action, resource, facts, now)
        case Citizen():
            return _citizen(subject, action, resource, facts, now, config)
        case SectorOfficial():
            return _sector(subject, action, resource, facts, now, config)
        case Device():
            return _device(subject, action, resource, facts, now)
    return not_found_safe()


# --- professionals ---------------------------------------------------------------------------

def _locked(facts: Facts, now: datetime) -> frozenset[str]:
    return frozenset(r.target for r in facts.restrictions
                     if r.kind == RestrictionKind.locked and r.active(now))


def _practitioner(who: Practitioner, action: Action, resource: Resource, facts: Facts,
                  now: datetime) -> Decision:
    if action in (Action.manage, Action.disclose):
        return not_found_safe()
    # a relation from a fact or the unit leader first; a self-declared one is always reviewed
    relation = min((r for r in facts.care_relations if r.active(now) and r.covers(who)),
                   key=lambda r: r.self_declared, default=None)
    emergency = next((e for e in facts.emergency_accesses if e.active(who, now)), None)
    if relation is None and (emergency is None or not facts.registered):
        # no way in; and emergency access to a patient the access model does not know is
        # answered like any denial, so breaking the glass never tells whether a patient exists
        return not_found_safe()
    if any(b.applies(who, now) for b in facts.blocks):
        if relation is None:
            return not_found_safe()  # only the glass was broken: do not confirm the patient
        return deny("withheld_by_patient", "Pasienten har motsatt seg at du får se disse "
                    "opplysningene. Withheld by the patient.")
    if relation is not None:
        basis, ref, obligations = Basis.care_relation, relation.relation_id, {Obligation.log}
        if relation.self_declared:
            obligations.add(Obligation.review)
    else:
        basis, ref = Basis.emergency, emergency.access_id
        obligations = {Obligation.log, Obligation.mark_emergency, Obligation.review}

    if action == Action.report_child_welfare:
        # hpl § 33: the duty to notify overrides confidentiality and needs no consent
        return Decision(permit=True, reason="duty_to_notify", basis=Basis.duty_to_notify,
                        message="Opplysningsplikt til barnevernet (hpl § 33).",
                        decision_ref=ref, obligations=frozenset(obligations))

    locked = _locked(facts, now)
    if action == Action.open_restricted:
        wanted = resource.entries or frozenset({resource.category})
        if resource.declaration is None:
            return deny("declaration_required", "Å åpne sperrede opplysninger krever et "
                        "oppgitt grunnlag (samtykke eller nødrett) og en begrunnelse.")
        opened = wanted & locked
        notify = any(r.notify_on_open and r.target in opened for r in facts.restrictions
                     if r.kind == RestrictionKind.locked and r.active(now))
        obligations |= {Obligation.notify_patient} if notify else set()
        if resource.declaration.basis == DeclaredBasis.necessity:
            obligations |= {Obligation.mark_emergency, Obligation.review}
        return Decision(permit=True, reason="restricted_opened", basis=basis, decision_ref=ref,
                        message="Sperrede opplysninger åpnet med oppgitt grunnlag.",
                        obligations=frozenset(obligations))

    hidden = locked
    if hidden:
        obligations.add(Obligation.hide_restricted)
    reason = "care_relation" if basis == Basis.care_relation else "emergency_access"
    return Decision(permit=True, reason=reason, basis=basis, decision_ref=ref,
                    message="Tilgang gitt.", obligations=frozenset(obligations), hidden=hidden)


# --- citizens and their proxies --------------------------------------------------------------

def _citizen(who: Citizen, action: Action, resource: Resource, facts: Facts, now: datetime,
             config: PolicyConfig) -> Decision:
    if who.patient_id is None or action not in (Action.read, Action.manage):
        return not_found_safe()
    principal = who.acting_for or who.patient_id
    if principal != resource.patient_id:
        return not_found_safe()
    if principal == who.patient_id:
        return Decision(permit=True, reason="own_record", basis=Basis.own_record,
                        message="Din egen journal.")
    return _proxy(who, action, resource, facts, now, config)


def _proxy(who: Citizen, action: Action, resource: Resource, facts: Facts, now: datetime,
           config: PolicyConfig) -> Decision:
    mandate = next((m for m in facts.mandates
                    if m.representative == who.patient_id and m.active(now)), None)
    principal_age = (age_on(facts.birth_date, local_day(now))
                     if facts.birth_date is not None else None)
    if (mandate is not None and action == Action.read and principal_age is not None
            and principal_age >= config.mandate_giver_min_age):
        if "record" in mandate.categories or resource.category in mandate.categories:
            cats = None if "record" in mandate.categories else mandate.categories
            return Decision(permit=True, reason="mandate", basis=Basis.mandate,
                            decision_ref=mandate.mandate_id, categories=cats,
                            message="Tilgang med fullmakt.")
    guardian = next((g for g in facts.guardians
                     if g.guardian == who.patient_id and g.active(now)), None)
    if guardian is None or principal_age is None:
        return not_found_safe()
    age = principal_age
    if age >= config.guardian_limited_until:
        return deny("proxy_ended_at_16", "Foreldres tilgang opphører når barnet fyller 16 år.")
    if age < config.guardian_full_until:
        if not guardian.shares_address:
            return deny("proxy_requires_shared_address", "Foreldre får tilgang for barn under "
                        "12 år bare når minst én forelder har samme folkeregistrerte adresse.")
        return Decision(permit=True, reason="guardian_under_12", basis=Basis.guardian,
                        message="Tilgang som forelder.")
    # 12–16: limited view, and nothing the youth has hidden from guardians
    allowed = config.guardian_categories_12_16
    if action == Action.manage or (resource.category not in allowed
                                   and resource.category != "record"):
        return deny("not_available_to_guardians_12_16", "Denne tjenesten er ikke tilgjengelig "
                    "for foreldre til barn mellom 12 og 16 år.")
    hidden = frozenset(r.target for r in facts.restrictions
                       if r.kind == RestrictionKind.hidden_from_guardians and r.active(now))
    return Decision(permit=True, reason="guardian_12_16", basis=Basis.guardian,
                    message="Begrenset tilgang som forelder (barn 12–16 år).", hidden=hidden,
                    categories=allowed, obligations=frozenset(
                        {Obligation.log, Obligation.hide_from_guardians}))


# --- sectors outside health care -------------------------------------------------------------

def _sector(who: SectorOfficial, action: Action, resource: Resource, facts: Facts,
            now: datetime, config: PolicyConfig) -> Decision:
    if action not in (Action.read, Action.disclose):
        return not_found_safe()
    if who.sector == Sector.nav and (resource.full_record or resource.category == "record"):
        return deny("nav_full_record_refused", "NAV kan bare få et avgrenset utdrag (periode "
                    "eller tema), aldri hele journalen (ftrl § 21-4 c).")
    if resource.full_record or resource.category == "record":
        return deny("consent_scope", "Samtykket gjelder bare navngitte opplysningstyper, ikke "
                    "hele journalen.")
    consent = next((c for c in facts.consents
                    if c.active(now) and c.covers(who, resource.category)), None)
    if consent is None or who.sector not in config.consent_sectors:
        return deny("no_consent", "Det finnes ikke noe gyldig samtykke som dekker mottaker og "
                    "opplysningstype.")
    return Decision(permit=True, reason="consent", basis=Basis.consent,
                    decision_ref=consent.consent_id, categories=frozenset({resource.category}),
                    hidden=_locked(facts, now), message="Utlevert etter samtykke.")


# --- devices ---------------------------------------------------------------------------------

def _device(who: Device, action: Action, resource: Resource, facts: Facts,
            now: datetime) -> Decision:
    if action != Action.write:
        return not_found_safe()
    if any(d.client_id == who.client_id and d.active(now) for d in facts.devices):
        return Decision(permit=True, reason="device_assignment", basis=Basis.device_assignment,
                        message="Enheten er tildelt pasienten.")
    return not_found_safe()


def may_review(who: Practitioner, unit: str) -> bool:
    """Unit leaders review the access log of their own unit (AC13, req 14)."""
    return Role.unit_leader in who.roles and unit in (who.unit, who.org_parent)
