"""What the workspace is (``libs/web/manifest.py``): no events of its own and no read models;
its composition root and its settings."""

from __future__ import annotations

from typing import Any

from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.workspace import contract
from services.workspace.settings import WorkspaceSettings


def _projections(topic: TopicOf) -> list[Projection]:
    return []


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.workspace.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="workspace",
    title="The clinician's workspace: a home-care nurse's day on a phone or tablet",
    events=(contract,),
    projections=_projections,
    create_app=_create_app,
    settings=WorkspaceSettings,
    port="workspace_port",
)
