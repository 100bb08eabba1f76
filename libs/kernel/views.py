"""Views of immutable values, made once per value (``ByIdentity``): an API's JSON view of a
frozen entry never changes, and a read model that holds its documents parsed hands out the same
entry objects read after read, so the view is kept by the entry itself."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class ByIdentity:
    """Views of immutable entries, kept by the entry itself: a record read again at the same
    version is the same parsed object (``ParsedDocs``), as are its vital signs
    (``ParsedTexts``), and an immutable entry's view never changes, so it is made once (the
    journal's note, observation and entry views were ~13 % of an overview's CPU;
    bench/RESULTS.md). An entry is held with its view, so its ``id`` cannot be another
    object's while it is kept. The views are shared between answers: nothing may change one
    after it is made."""

    def __init__(self, make: Callable[[Any], dict[str, Any]], size: int = 10_000):
        self.make, self.size = make, size
        self._views: OrderedDict[int, tuple[Any, dict[str, Any]]] = OrderedDict()

    def __call__(self, item: Any) -> dict[str, Any]:
        found = self._views.get(id(item))
        if found is not None and found[0] is item:
            self._views.move_to_end(id(item))
            return found[1]
        view = self._views[id(item)] = (item, self.make(item))
        if len(self._views) > self.size:
            self._views.popitem(last=False)
        return view[1]
