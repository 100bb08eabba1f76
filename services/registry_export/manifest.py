"""What the registry export is (``libs/web/manifest.py``): the events it decodes (its own, and
those of the five topics its faust worker reads), its projection (national ids, kept out of
the worker's parts), its composition root, its settings and its ``ehr`` commands."""

from __future__ import annotations

from typing import Any

from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.registry_export.commands import registry
from services.registry_export.projections.identities import IdentitiesProjection
from services.registry_export.reads import EVENT_MODULES
from services.registry_export.settings import RegistryExportSettings


def _projections(topic: TopicOf) -> list[Projection]:
    """``registry_identities`` (journal.events): patient id -> national id."""
    return [IdentitiesProjection(topic("journal.events"))]


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.registry_export.app import create_app  # noqa: PLC0415  (app.py imports this)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="registry_export",
    title="KPR annual extracts, suppressed statistics and pseudonymised research data sets, "
          "from the event stream",
    events=EVENT_MODULES,
    projections=_projections,
    create_app=_create_app,
    settings=RegistryExportSettings,
    port="registry_port",
    commands=(("registry", registry),),   # ehr registry worker / kpr / statistics / release
    stream_worker=("registry", "worker"),
)
