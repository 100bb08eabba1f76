"""The workspace keeps no read models: a page reads the owning service's API as the clinician
(so each read is decided and logged there, as them)."""

from __future__ import annotations
