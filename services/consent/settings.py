"""The consent service's settings: the platform's (``libs/config.py``), its port, and the
organisations' policy on self-declared care relations."""

from __future__ import annotations

from pydantic import Field

from libs.access.model import Role
from libs.config import Settings
from libs.kernel.identifiers import OrgNr


class ConsentSettings(Settings):
    consent_port: int = 8003   # EHR_CONSENT_PORT: where `ehr services start` runs it

    # Care relations a professional declares for themself (issue 12, DOMAIN.md AC3): off unless
    # an organisation's policy allows it, per organisation number (legal entity or unit) and
    # role, as JSON: EHR_SELF_DECLARED_RELATIONS='{"999999999": ["physician"]}'. Each one is
    # named to the professional, ends after the default hours unless they ask for less or more
    # (never beyond the maximum), and is a review item for the unit leader.
    self_declared_relations: dict[OrgNr, list[Role]] = {}
    self_declared_relation_hours: float = Field(default=4.0, gt=0)
    self_declared_relation_max_hours: float = Field(default=24.0, gt=0)
