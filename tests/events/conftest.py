"""``backend``: each store contract test once on the in-memory store, once on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.events.store_contract import STORES, Backend, make_backend


@pytest.fixture(params=[pytest.param(name, marks=[pytest.mark.stack] if name == "postgres"
                                      else []) for name in STORES])
def backend(request: pytest.FixtureRequest) -> Backend:
    return make_backend(request)
