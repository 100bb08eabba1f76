"""Keep national id numbers (fødselsnummer, D-number, H-number, synthetic test numbers) out of
logs and traces (DESIGN.md §3).

Any run of exactly 11 digits, also written 6 + space + 5, is treated as a national id and
replaced by eleven asterisks. No checksum test: a false positive costs a log line some detail,
a false negative leaks a person's identity, and the checksum rules change in 2032. UUIDs, W3C
trace ids (32 hex digits) and span ids (16) are left alone even when 11 of their characters
happen to be decimal digits, so correlation ids stay usable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "*" * 11

_ID_PATTERN = re.compile(
    r"(?P<keep>"
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?![0-9A-Za-z])"  # a UUID
    r"|(?<![0-9A-Za-z])(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{16})(?![0-9A-Za-z])"  # trace/span id
    r")"
    r"|(?<!\d)\d{6} ?\d{5}(?!\d)"  # a national id number
)


def _replace(m: re.Match[str]) -> str:
    return m.group("keep") or MASK


def redact(text: str) -> str:
    """``text`` with every national id number replaced by ``***********``."""
    if len(text) < 11:
        return text
    return _ID_PATTERN.sub(_replace, text)


def contains_national_id(text: str) -> bool:
    return redact(text) != text


def redact_value(value):
    """Redact an OpenTelemetry attribute value: a str, an 11-digit int, or a sequence of
    them; other values are returned as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return MASK if 10**10 <= abs(value) < 10**11 else value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        new = tuple(redact_value(v) for v in value)
        if any(a is not b for a, b in zip(new, value)):
            return new
    return value


def redact_attributes(attributes) -> dict | None:
    """A redacted copy of an attribute mapping, or ``None`` when nothing needed redacting."""
    if not attributes:
        return None
    changed = False
    out = {}
    for key, value in attributes.items():
        new = redact_value(value)
        if new != value:
            changed = True
        out[key] = new
    return out if changed else None
