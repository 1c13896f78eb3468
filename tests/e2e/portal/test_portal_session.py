"""Renewal: with a 3 s access token the portal renews it with the refresh token and the API keeps answering
(a session that ends is in test_portal.py). Its own stack: the token lifetime is a process setting.
Every refreshed ID token keeps the sign-in's `auth_time` (OIDC Core §12.2); oidc-client-ts refuses one that
changes, which would end the session at the first renewal.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.portal.conftest import sign_in, wait_until

pytestmark = pytest.mark.e2e

ACCESS_TTL = 3
STACK_ENV = {"AME_OIDC_ACCESS_TOKEN_TTL": str(ACCESS_TTL)}


def refresh_statuses(page) -> list[int]:
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/oidc/token")
            and "grant_type=refresh_token" in (r.request.post_data or "") else None)
    return statuses


def test_the_access_token_is_renewed_with_the_refresh_token(stack, page, console):
    statuses = refresh_statuses(page)
    sign_in(page, stack, path="/portal/ordens/nova")
    expect(page.get_by_label("Produto")).to_be_enabled()
    wait_until(page, lambda: len(statuses) >= 2, timeout=30)  # two renewals of the 3 s token
    assert set(statuses) == {200}
    page.get_by_label("Área").select_option("")
    page.get_by_label("Área").select_option("CREDITO_PJ")  # the area's options again, with the renewed token
    expect(page.get_by_label("Produto")).to_be_enabled()
    expect(page.get_by_role("heading", level=1, name="Nova ordem")).to_be_visible()
