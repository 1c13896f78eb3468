"""A session that expires: with short token lifetimes the portal renews the access token with the refresh token,
and when the provider refuses the refresh (sign-in older than the refresh lifetime) it shows "Sua sessão
expirou"; the form typed so far survives the new sign-in. Its own stack: the lifetimes are process settings."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ame_local.simulator import scenarios as sc
from tests.e2e.portal.conftest import PASSWORD, check_axe, screenshot, sign_in

pytestmark = pytest.mark.e2e

ACCESS_TTL = 3
REFRESH_TTL = 8
STACK_ENV = {"AME_OIDC_ACCESS_TOKEN_TTL": str(ACCESS_TTL), "AME_OIDC_REFRESH_TOKEN_TTL": str(REFRESH_TTL)}


def test_the_token_is_renewed_then_the_session_expires_and_the_form_survives(stack, page, console):
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if r.url.endswith("/oidc/token")
            and "grant_type=refresh_token" in (r.post_data or "") else None)
    sign_in(page, stack, path="/portal/ordens/nova")
    expect(page.get_by_label("Produto")).to_be_enabled()
    page.get_by_label("Produto").select_option(sc.PRODUCT_ACTIVE)
    page.get_by_label("Valor").fill("123456")
    page.locator("#f-requester-document").fill("11222333000181")
    page.get_by_label("Referência externa (opcional)").fill("portal-expira")

    # Renewal: the access token (3 s) is refreshed while the refresh token (8 s from sign-in) lives.
    expect(page.get_by_role("heading", level=1, name="Sua sessão expirou")).to_be_visible(timeout=(REFRESH_TTL + 10) * 1000)
    assert len(refreshes) >= 1
    console.allow(r"status of 400 .*/oidc/token")  # the refused refresh (invalid_grant) is what ends the session
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
