"""Asserting that a pure decide function refuses, with the status a client would see."""

from __future__ import annotations

import pytest


def refused(status: int, fn, *args, **kw) -> str:
    """Call ``fn``; it must raise a service's ``Refused`` with ``status``. Returns the message
    (so a test can check it reads well)."""
    with pytest.raises(Exception) as exc:  # noqa: PT011 - each service has its own Refused
        fn(*args, **kw)
    assert type(exc.value).__name__ == "Refused", repr(exc.value)
    assert exc.value.status == status, exc.value.message
    return exc.value.message
