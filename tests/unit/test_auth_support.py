"""Test helper (no tests here): a throw-away issuer whose JWKS the settings point at, and bearer headers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import responses

from ame_local.issuer import AUDIENCE, ISSUER, LocalIssuer

JWKS_URL = "http://issuer.test/.well-known/jwks.json"
AUTH_ENV = {"AME_JWKS_URL": JWKS_URL, "AME_TOKEN_ISSUER": ISSUER, "AME_TOKEN_AUDIENCE": AUDIENCE}

# One key for the whole test session: generating RSA keys is the slow part.
TEST_ISSUER = LocalIssuer.generate(kid="unit-test-key")
OTHER_ISSUER = LocalIssuer.generate(kid="unit-test-key")  # same kid, another key: a forged signature


@contextmanager
def serving_jwks(issuer: LocalIssuer = TEST_ISSUER, url: str = JWKS_URL) -> Iterator[responses.RequestsMock]:
    """The issuer's JWKS at `url`, through the real HTTP fetcher the container builds from settings."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(url, json=issuer.jwks())
        yield mock


def bearer(
    client: str = "portal-bff",
    areas: Iterable[str] = ("CREDITO_PJ",),
    scopes: Iterable[str] | None = None,
    issuer: LocalIssuer = TEST_ISSUER,
    **claims,
) -> dict[str, str]:
    return {"Authorization": "Bearer " + issuer.mint(client, list(areas), scopes, **claims)}
