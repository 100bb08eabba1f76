"""The owning services' APIs, called with the clinician's own HelseID token: every read is
decided and logged there as the clinician, every write is their command with its If-Match.
A refusal comes back as the owner said it (status and OperationOutcome), never guessed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx


class Unavailable(Exception):
    """An owning service did not answer."""


class Denied(Exception):
    """403 (or 404) from the owner: no need to know, or no such patient: the same to us."""


class Expired(Exception):
    """401 from the owner: the clinician's token is no longer good; sign in again."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    etag: str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Backends:
    journal: httpx.AsyncClient
    medication: httpx.AsyncClient
    consent: httpx.AsyncClient

    async def call(self, client: httpx.AsyncClient, method: str, path: str, token: str, *,
                   json: Any = None, params: dict | None = None,
                   headers: dict | None = None) -> Answer:
        try:
            r = await client.request(method, path, json=json, params=params,
                                     headers={"Authorization": f"Bearer {token}"}
                                     | (headers or {}))
        except httpx.HTTPError:
            raise Unavailable(path) from None
        if r.status_code == 401:
            raise Expired()
        if r.status_code in (403, 404) and method == "GET":
            raise Denied()
        if r.status_code >= 500:
            raise Unavailable(path)
        try:
            body = r.json()
        except ValueError:
            body = None
        return Answer(r.status_code, body, r.headers.get("ETag"))

    async def worklist(self, token: str) -> dict:
        return (await self.call(self.journal, "GET", "/worklist", token)).body

    async def vital_signs(self, token: str, patient_id: UUID, count: int = 100,
                          headers: dict | None = None) -> list[dict]:
        """The patient's newest observations (the journal's FHIR search), flattened."""
        bundle = (await self.call(self.journal, "GET", "/fhir/Observation", token,
                                  params={"patient": str(patient_id), "_count": str(count)},
                                  headers=headers)).body
        return [flat for e in (bundle or {}).get("entry", ())
                if (flat := observation(e.get("resource") or {})) is not None]


def observation(resource: dict) -> dict | None:
    """A FHIR Observation as the chart needs it (code, value, unit, when, status)."""
    quantity = resource.get("valueQuantity")
    codings = (resource.get("code") or {}).get("coding") or ()
    if not quantity or not codings or "effectiveDateTime" not in resource:
        return None
    return {"code": codings[0].get("code"), "value": quantity.get("value"),
            "unit": quantity.get("unit", ""), "effective_at": resource["effectiveDateTime"],
            "status": resource.get("status", "final")}
