"""Small helpers for pure ``evolve`` functions over immutable (pydantic) state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def replace_where(items: tuple[M, ...], match: Callable[[M], bool], **changes: Any) -> tuple[M, ...]:
    """``items`` with ``changes`` applied to every item that ``match`` selects."""
    return tuple(i.model_copy(update=changes) if match(i) else i for i in items)
