"""A session that expires: with a 3 s access token the portal renews it with the refresh token (the provider
rotates it); when the provider refuses a refresh (invalid_grant, as for a refresh token past its lifetime or
revoked) the portal shows "Sua sessão expirou", and the form typed so far survives the new sign-in.

Its own stack: token lifetimes are process settings. The refusal is the real provider's answer to a refresh
token it does not know (the test swaps the token in the request), so the test does not depend on how long
signing in takes on a loaded machine; the refresh lifetime itself is covered by tests/unit/test_local_oidc.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ame_local.simulator import scenarios as sc
from tests.e2e.portal.conftest import PASSWORD, check_axe, screenshot, sign_in, wait_until

pytestmark = pytest.mark.e2e

ACCESS_TTL = 3
STACK_ENV = {"AME_OIDC_ACCESS_TOKEN_TTL": str(ACCESS_TTL)}


def test_the_token_is_renewed_then_the_session_expires_and_the_form_survives(stack, page, console):
    refreshes = []
    page.on("response", lambda r: refreshes.append(r.status) if r.url.endswith("/oidc/token")
            and "grant_type=refresh_token" in (r.request.post_data or "") else None)
    sign_in(page, stack, path="/portal/ordens/nova")
    expect(page.get_by_label("Produto")).to_be_enabled()

    # Renewal: the 3 s access token is refreshed, and the API still answers with the new one.
    wait_until(page, lambda: 200 in refreshes, timeout=30)
    page.get_by_label("Área").select_option("")
    page.get_by_label("Área").select_option("CREDITO_PJ")  # reloads the area's options with the renewed token
    expect(page.get_by_label("Produto")).to_be_enabled()
    page.get_by_label("Produto").select_option(sc.PRODUCT_ACTIVE)
    page.get_by_label("Valor").fill("123456")
    page.locator("#f-requester-document").fill("11222333000181")
    page.get_by_label("Referência externa (opcional)").fill("portal-expira")

    # The provider refuses the next refresh: the session is over.
    page.route("**/oidc/token", lambda route: route.continue_(
        post_data=(route.request.post_data or "").replace("refresh_token=", "refresh_token=revogado-")))
    console.allow(r"status of 400 .*/oidc/token")  # the refused refresh (invalid_grant)
    expect(page.get_by_role("heading", level=1, name="Sua sessão expirou")).to_be_visible(timeout=30_000)
    assert 400 in refreshes
    page.unroute("**/oidc/token")
    check_axe(page, "session expired page")
    screenshot(page, "sessao-expirada")

    page.get_by_role("button", name="Entrar novamente").click()
    page.get_by_label("Usuário").fill("ana.credito")
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1, name="Nova ordem")).to_be_visible()
    expect(page.get_by_text("Recuperamos o rascunho")).to_be_visible()
    expect(page.get_by_label("Valor")).to_have_value("R$ 1.234,56")
    expect(page.locator("#f-requester-document")).to_have_value("11.222.333/0001-81")
    expect(page.get_by_label("Referência externa (opcional)")).to_have_value("portal-expira")
    expect(page.get_by_label("Produto")).to_have_value(sc.PRODUCT_ACTIVE)
