"""Fixtures of the token tests (``test_tokens.py``, ``test_token_keys.py``): a development issuer
in tmp_path and a validator that also trusts its key under a non-dev kid."""

from __future__ import annotations

import pytest

from libs.access.dev_issuer import DevIssuer
from libs.access.tokens import TokenValidator
from libs.config import Settings
from tests.access.token_support import as_prod_key


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(environment="test", dev_key_path=tmp_path / "dev-issuer" / "key.pem")


@pytest.fixture
def issuer(settings) -> DevIssuer:
    return DevIssuer.from_settings(settings)


@pytest.fixture
def other(tmp_path) -> DevIssuer:
    return DevIssuer(tmp_path / "other" / "key.pem")


@pytest.fixture
def validator(settings, issuer) -> TokenValidator:
    keys = issuer.jwks()
    keys["keys"] += as_prod_key(issuer)["keys"]
    return TokenValidator(settings, keys=keys)


@pytest.fixture
def production(settings) -> Settings:
    return settings.model_copy(update={"environment": "production"})
