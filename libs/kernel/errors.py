"""What can go wrong, as the domain says it: one class per kind, each defined once here.

The domain raises ``Conflict("A signed note is immutable: correct it instead.")``; the HTTP edge
(``libs/web/errors.py``) maps the kind to a status and a FHIR OperationOutcome. No status code
lives in a domain. A message is one readable sentence that never holds a national id number.

=========================  ======  =====================================================
kind                       status  when
=========================  ======  =====================================================
``Forbidden``              403     not this person's to do (the token's role, a signature)
``NotFound``               404     no such entry (never says whether a patient exists)
``Conflict``               409     the current state does not allow it
``PreconditionFailed``     412     ``If-Match`` names a version that is no longer current
``PreconditionRequired``   428     a change that must name the version it was made against
``Invalid``                422     the input is not acceptable
``Unavailable``            503     a dependency the decision needs is missing right now
=========================  ======  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    """A command the domain will not accept. ``details`` are extra issues for the answer
    (decision-support warnings, for example), each a mapping with at least ``text``."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, details: Sequence[Mapping[str, Any]] = ()):
        self.message = message
        self.details = tuple(details)
        super().__init__(message)


class Forbidden(DomainError):
    kind = "forbidden"


class NotFound(DomainError):
    kind = "not-found"


class Conflict(DomainError):
    kind = "conflict"


class Invalid(DomainError):
    kind = "invalid"


class PreconditionFailed(DomainError):
    """``If-Match`` named a version that is no longer current; ``current`` is the version now."""

    kind = "precondition-failed"

    def __init__(self, current: int, message: str | None = None):
        self.current = current
        super().__init__(message or f"It has changed: it is at version {current}.")


class PreconditionRequired(DomainError):
    kind = "precondition-required"


class Unavailable(DomainError):
    kind = "unavailable"
