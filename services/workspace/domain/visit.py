"""What a visit's forms become: vital signs as the journal's observations (LOINC), the
version to send as If-Match, the service's refusal as readable lines, and what changed since
a stale version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

DONE = "Utført."   # a task completed without a word still documents that it was done
FIELDS = {"pulse": "8867-4", "systolic": "8480-6", "diastolic": "8462-4",
          "temperature": "8310-5"}


class FormRefused(Exception):
    """A form without this session's CSRF token: nothing is sent."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def vital_signs(fields: Mapping[str, str]) -> tuple[list[dict], list[str]]:
    """The observations to record (in the form's order) and the fields that are not numbers.
    A decimal comma is a decimal point; an empty field is left out."""
    wanted, unreadable = [], []
    for name, code in FIELDS.items():
        raw = (fields.get(name) or "").strip().replace(",", ".")
        if not raw:
            continue
        try:
            wanted.append({"code": code, "value": float(raw)})
        except ValueError:
            unreadable.append(name)
    return wanted, unreadable


def if_match(version: str) -> dict[str, str]:
    """The version the page was read at, as If-Match (none if the page had none)."""
    version = version.strip()
    return {"If-Match": version} if version else {}


def problems(outcome: Any) -> list[str]:
    """An OperationOutcome's diagnostics, one line each."""
    if not isinstance(outcome, Mapping):
        return ["?"]
    return [str(i.get("diagnostics") or i.get("code") or "?")
            for i in outcome.get("issue") or ()] or ["?"]


def _version(tag: str) -> int | None:
    digits = tag.strip().removeprefix("W/").strip('"')
    return int(digits) if digits.isdigit() else None


def journal_changes(entries: Iterable[Mapping[str, Any]], sent: str) -> list[dict]:
    """The journal's timeline entries after the version the nurse saw, oldest first."""
    seen = _version(sent) or 0
    return sorted(({"at": e["at"], "what": e.get("what") or "Tilbakeholdt",
                    "by": e.get("by") or ""} for e in entries
                   if (e.get("version") or 0) > seen), key=lambda c: c["at"])


def medication_changes(changes: Iterable[Mapping[str, Any]], read_at: str) -> list[dict]:
    """The medication list's changes after the nurse read it, oldest first."""
    try:
        since = datetime.fromisoformat(read_at)
    except ValueError:
        since = datetime.min.replace(tzinfo=UTC)
    out = []
    for c in changes:
        at = datetime.fromisoformat(c["at"])
        if at > since:
            by = c.get("by") or {}
            what = " ".join(str(p) for p in (c.get("action"), c.get("drug"), c.get("reason"))
                            if p)
            out.append({"at": c["at"], "what": what, "by": by.get("name") or by.get("id", "")})
    return sorted(out, key=lambda c: c["at"])
