"""The registry export's published events (``registry.events``): each KPR send, each research
release and each download an analyst makes. The one module other services may import.

They carry no national id and no row of data: counts, checksums, who and why."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from libs.events.registry import EventPayload, event

TOPIC = "registry.events"
STREAM = "registry-export"        # one stream: the service's own log of what left it
Checksum = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, hex")


@event("registry.KprReportSent", topic=TOPIC)
class KprReportSent(EventPayload):
    """An annual KPR extract written for sending (requirement 39–40); sent again, a new one."""

    year: int = Field(ge=2017, le=2199)
    municipality: str | None = Field(default=None, pattern=r"^\d{4}$")
    persons: int = Field(ge=0)
    services: int = Field(ge=0)
    excluded: int = Field(ge=0)
    checksum: str = Checksum
    file: str = Field(min_length=1, max_length=300)
    resend: bool
    sent_at: datetime


@event("registry.ResearchReleased", topic=TOPIC)
class ResearchReleased(EventPayload):
    """A pseudonymised research data set released to a project (requirement 43)."""

    project: str = Field(min_length=1, max_length=100)
    recipient: str = Field(min_length=1, max_length=300)
    basis: str = Field(min_length=1, max_length=1000)
    as_of: date
    rows: int = Field(ge=0)
    suppressed_rows: int = Field(ge=0)
    k: int = Field(ge=2)
    files: dict[str, str] = Field(description="file (relative to the release) -> SHA-256")
    released_at: datetime


@event("registry.DownloadServed", topic=TOPIC)
class DownloadServed(EventPayload):
    """An analyst fetched a published table or a released file."""

    client: str = Field(min_length=1, max_length=200, description="Maskinporten client id")
    organisation: str | None = None
    resource: str = Field(min_length=1, max_length=300)
    scope: str
    served_at: datetime
