"""The registry export's own event log (``registry.events`` through the outbox): what left the
service. KPR sends and releases are appended by ``kpr_report.py`` and ``release.py``; each
download an analyst makes is appended here before the file is served."""

from __future__ import annotations

from datetime import datetime

from libs.events.envelope import Actor
from libs.events.ports import EventContext
from libs.events.store import EventStore
from services.registry_export.contract import DownloadServed

DOWNLOADS = "registry-downloads"


async def record_download(store: EventStore, *, client: str, organisation: str | None,
                          resource: str, scope: str, now: datetime) -> None:
    actor = Actor(kind="system", id=f"maskinporten:{client}", organisation=organisation)
    await store.append(DOWNLOADS, None, [DownloadServed(
        client=client, organisation=organisation, resource=resource, scope=scope,
        served_at=now)], EventContext(patient_id=None, actor=actor, purpose="statistics"))
