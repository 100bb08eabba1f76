"""The citizen's choices as the API and the portal show them (from the local access facts)."""

from __future__ import annotations

from datetime import datetime

from libs.access.model import Facts, RestrictionKind


def choices(facts: Facts, now: datetime) -> dict:
    return {
        "locked": [{"restriction_id": str(r.restriction_id), "target": r.target,
                    "notify_on_open": r.notify_on_open, "since": r.since.isoformat()}
                   for r in facts.restrictions
                   if r.kind == RestrictionKind.locked and r.active(now)],
        "blocks": [{"block_id": str(b.block_id), "target_kind": b.target_kind,
                    "target": b.target, "since": b.since.isoformat()}
                   for b in facts.blocks if b.lifted_at is None or b.lifted_at > now],
        "consents": [{"consent_id": str(c.consent_id), "sector": c.sector.value,
                      "recipient_org": c.recipient_org, "categories": sorted(c.categories),
                      "purpose": c.purpose, "valid_from": c.valid_from.isoformat(),
                      "valid_to": c.valid_to.isoformat() if c.valid_to else None}
                     for c in facts.consents if c.active(now)],
        "notifications": {"restricted_opened": facts.notify_restricted_opened,
                          "emergency_access": facts.notify_emergency_access},
        "consent_level": facts.consent_level,
    }
