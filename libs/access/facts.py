"""``evolve(facts, event) -> facts``: what consent.events mean for one patient's access facts.

Pure. The consent service decides commands against these facts, and every service's
``access_facts`` projection keeps the same facts in its own database, so both agree by
construction.
"""

from __future__ import annotations

from collections.abc import Iterable

from libs.access import events as ev
from libs.access.model import (
    Block, CareRelation, Consent, DeviceAssignment, EmergencyAccess, Facts, Guardian, Mandate,
    Restriction,
)
from libs.events.evolve import replace_where
from libs.events.registry import EventPayload



def evolve(f: Facts, e: EventPayload) -> Facts:  # noqa: C901 - one arm per event type
    u = f.model_copy
    match e:
        case ev.PersonRegistered():
            return u(update={"registered": True, "id_type": e.id_type.value,
                             "birth_date": e.birth_date})
        case ev.CareRelationStarted():
            r = CareRelation(relation_id=e.relation_id, unit=e.unit, org_parent=e.org_parent,
                             hpr=e.hpr, purpose=e.purpose, basis=e.basis, source=e.source,
                             started_at=e.started_at, ends_at=e.ends_at)
            return u(update={"care_relations": (*f.care_relations, r)})
        case ev.CareRelationEnded():
            return u(update={"care_relations": replace_where(
                f.care_relations, lambda r: r.relation_id == e.relation_id,
                ended_at=e.ended_at)})
        case ev.ConsentGiven():
            c = Consent(consent_id=e.consent_id, sector=e.sector, recipient_org=e.recipient_org,
                        grantor=e.grantor, grantor_role=e.grantor_role,
                        categories=frozenset(e.categories), purpose=e.purpose,
                        valid_from=e.valid_from, valid_to=e.valid_to)
            return u(update={"consents": (*f.consents, c)})
        case ev.ConsentWithdrawn():
            return u(update={"consents": replace_where(
                f.consents, lambda c: c.consent_id == e.consent_id, withdrawn_at=e.withdrawn_at)})
        case ev.BlockRegistered():
            b = Block(block_id=e.block_id, target_kind=e.target_kind, target=e.target,
                      since=e.since)
            return u(update={"blocks": (*f.blocks, b)})
        case ev.BlockLifted():
            return u(update={"blocks": replace_where(
                f.blocks, lambda b: b.block_id == e.block_id, lifted_at=e.lifted_at)})
        case ev.EntryRestricted():
            r = Restriction(restriction_id=e.restriction_id, kind=e.kind, target=e.target,
                            notify_on_open=e.notify_on_open, since=e.since)
            return u(update={"restrictions": (*f.restrictions, r)})
        case ev.RestrictionLifted():
            return u(update={"restrictions": replace_where(
                f.restrictions, lambda r: r.restriction_id == e.restriction_id,
                lifted_at=e.lifted_at)})
        case ev.NotificationsChosen():
            return u(update={"notify_restricted_opened": e.restricted_opened,
                             "notify_emergency_access": e.emergency_access})
        case ev.ConsentLevelChosen():
            return u(update={"consent_level": e.level})
        case ev.EmergencyAccessGranted():
            a = EmergencyAccess(access_id=e.access_id, hpr=e.hpr, unit=e.unit, basis=e.basis,
                                granted_at=e.granted_at, expires_at=e.expires_at)
            return u(update={"emergency_accesses": (*f.emergency_accesses, a)})
        case ev.GuardianRegistered():
            g = Guardian(guardian=e.guardian, shares_address=e.shares_address, since=e.since)
            return u(update={"guardians": (*f.guardians, g)})
        case ev.GuardianAddressChanged():
            return u(update={"guardians": replace_where(
                f.guardians, lambda g: g.guardian == e.guardian and g.ended_at is None,
                shares_address=e.shares_address)})
        case ev.GuardianEnded():
            return u(update={"guardians": replace_where(
                f.guardians, lambda g: g.guardian == e.guardian and g.ended_at is None,
                ended_at=e.ended_at)})
        case ev.MandateGranted():
            m = Mandate(mandate_id=e.mandate_id, representative=e.representative,
                        categories=frozenset(e.categories), valid_from=e.valid_from,
                        valid_to=e.valid_to)
            return u(update={"mandates": (*f.mandates, m)})
        case ev.MandateRevoked():
            return u(update={"mandates": replace_where(
                f.mandates, lambda m: m.mandate_id == e.mandate_id, revoked_at=e.revoked_at)})
        case ev.DeviceAssigned():
            d = DeviceAssignment(client_id=e.client_id, since=e.since)
            return u(update={"devices": (*f.devices, d)})
        case ev.DeviceUnassigned():
            return u(update={"devices": replace_where(
                f.devices, lambda d: d.client_id == e.client_id and d.ended_at is None,
                ended_at=e.ended_at)})
    return f  # reports, disclosures, reviews and openings change no access fact


def fold(patient_id, payloads: Iterable[EventPayload]) -> Facts:
    f = Facts.unknown(patient_id)
    for p in payloads:
        f = evolve(f, p)
    return f
