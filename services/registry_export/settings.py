"""The registry export's settings: the platform's (``libs/config.py``) and its own."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from libs.config import REPO_ROOT, Settings
from services.registry_export.domain.rounding import Rounding


class RegistryExportSettings(Settings):
    registry_port: int = 8007              # EHR_REGISTRY_PORT: the analysts' API
    # run the faust worker inside the API process (one process for a small municipality);
    # false: run it apart with `ehr registry worker`, as many as the partitions allow
    registry_worker_in_api: bool = True
    registry_app_id: str = "registry-export"   # the faust app (consumer group, whose parts)
    registry_partitions: int = Field(default=12, ge=1)   # the source topics' partition count
    # published statistics: cells under this are suppressed (".") with secondary suppression
    registry_min_cell: int = Field(default=3, ge=1)
    # ... or, with "round", every number randomly rounded to a multiple of the base instead,
    # each cell's draw keyed by the rounding key (a secret: never from the repository)
    # ("controlled": rounded with the same draws so that the totals add up)
    registry_protection: Literal["suppress", "round", "controlled"] = "suppress"
    registry_rounding_base: int = Field(default=3, ge=2, le=10)
    registry_rounding_key: SecretStr | None = None

    def rounding(self) -> Rounding | None:
        """The rounding of published tables, or None when they are suppressed; refused (at
        start) when rounding is chosen without its key."""
        if self.registry_protection == "suppress":
            return None
        if self.registry_rounding_key is None or not self.registry_rounding_key.get_secret_value():
            raise ValueError(f"EHR_REGISTRY_PROTECTION={self.registry_protection} needs "
                             "EHR_REGISTRY_ROUNDING_KEY (a secret that keeps each cell's "
                             "rounding unguessable)")
        return Rounding(self.registry_rounding_key.get_secret_value().encode(),
                        self.registry_rounding_base,
                        controlled=self.registry_protection == "controlled")
    # research releases: every combination of quasi-identifiers is shared by at least k rows
    registry_k_anonymity: int = Field(default=5, ge=2)
    # research releases: the pseudonym keys, one per project (JSON {"P": "key"}); from a
    # secret store in production, never from the repository
    registry_pseudonym_keys: dict[str, SecretStr] = Field(default_factory=dict)
    registry_out_dir: Path = REPO_ROOT / ".local" / "registry"   # KPR files and releases
