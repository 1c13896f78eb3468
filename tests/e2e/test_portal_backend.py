"""The portal's backend in the real local stack (`python -m ame_local run`): /portal/ serving, config.json,
security headers, sign-in through /oidc and AME accepting those tokens (PORTAL-INTERFACE)."""

from __future__ import annotations

import time

import pytest
import requests

from ame_local.simulator import scenarios as sc
from tests.e2e.portal_signin import bearer, sign_in
from tests.e2e.stack_process import running_stack

pytestmark = pytest.mark.e2e

INDEX = '<!doctype html><html lang="pt-BR"><title>Portal</title><div id=app></div></html>'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text(INDEX)
    (dist / "assets").mkdir()
    (dist / "assets" / "app-1234.js").write_text("console.log('ok')")
    env = {"AME_PORTAL_DIST": str(dist)}  # running_stack puts the webhook receiver on a free port
    with running_stack(tmp_path_factory.mktemp("portal"), env) as running:
        yield running


def test_config_json_points_the_spa_at_this_origin(stack):
    config = requests.get(f"{stack.api_url}/portal/config.json", timeout=5).json()
    assert config == {
        "apiBaseUrl": stack.api_url,
        "oidc": {
            "authority": f"{stack.api_url}/oidc",
            "client_id": "portal",
            "redirect_uri": f"{stack.api_url}/portal/callback",
            "post_logout_redirect_uri": f"{stack.api_url}/portal/",
            "scope": "openid profile ame:orders:write ame:orders:read ame:quorum:simulate",
        },
    }


@pytest.mark.parametrize("path", ["/portal/", "/portal/orders/01ABC", "/portal/callback?code=x&state=y"])
def test_spa_paths_answer_index_html_with_security_headers(stack, path):
    response = requests.get(stack.api_url + path, timeout=5)
    assert response.status_code == 200 and response.text == INDEX
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_assets_are_served_as_files_and_nothing_outside_dist(stack):
    asset = requests.get(f"{stack.api_url}/portal/assets/app-1234.js", timeout=5)
    assert asset.status_code == 200 and asset.text == "console.log('ok')"
    assert asset.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    assert "immutable" in asset.headers["Cache-Control"]
    escape = requests.get(f"{stack.api_url}/portal/..%2F..%2Fapp.py", timeout=5)
    assert "Chalice" not in escape.text and escape.text == INDEX
    redirect = requests.get(f"{stack.api_url}/portal", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "/portal/"


def test_api_routes_still_reach_chalice(stack):
    assert requests.get(f"{stack.api_url}/health", timeout=5).json() == {"status": "ok"}


def wait_terminal(api: str, key: str, auth: dict, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = requests.get(f"{api}/v1/orders/{key}", headers=auth, timeout=5).json()
        if order["status"] in ("QUORUM_MET", "NO_QUORUM", "FAILED"):
            return order
        time.sleep(0.05)
    raise AssertionError(f"order {key} not terminal after {timeout}s")


def test_a_signed_in_person_reads_options_creates_an_order_and_reads_why_it_cannot_be_signed(stack):
    ana = bearer(stack.api_url, "ana.credito")
    options = requests.get(f"{stack.api_url}/v1/areas/CREDITO_PJ/options", headers=ana, timeout=5)
    assert options.status_code == 200, options.text
    assert {"code": "BANKLINE", "name": "Bankline"} in options.json()["platforms"]
    body = sc.order_body("TWO_GROUPS_ONE_PERSON", external_reference="portal-e2e-1")
    created = requests.post(
        f"{stack.api_url}/v1/orders", json=body, timeout=10, headers={**ana, "Idempotency-Key": "portal-e2e-1"}
    )
    assert created.status_code == 202, created.text
    assert created.json()["created_by"] == "portal:ana.credito"
    order = wait_terminal(stack.api_url, created.json()["order_key"], ana)
    assert order["status"] == "NO_QUORUM"
    party = order["result"]["parties"][0]
    assert party["failed_rules"] and party["failed_rules"][0]["shortfalls"]
    assert {"critical_signers", "skipped_rules", "participants"} <= set(party)
    # Another area's person: the order does not exist for him, nor does the area's form.
    bruno = bearer(stack.api_url, "bruno.consignado")
    assert requests.get(f"{stack.api_url}/v1/orders/{order['order_key']}", headers=bruno, timeout=5).status_code == 404
    assert requests.get(f"{stack.api_url}/v1/areas/CREDITO_PJ/options", headers=bruno, timeout=5).status_code == 404
    assert requests.get(f"{stack.api_url}/v1/areas/CONSIGNADO/options", headers=bruno, timeout=5).status_code == 200


def test_the_seeded_webhook_reaches_this_stacks_own_receiver_on_a_free_port(stack):
    ana = bearer(stack.api_url, "ana.credito")
    created = requests.post(f"{stack.api_url}/v1/orders", json=sc.order_body("QUORUM_AB"), headers=ana, timeout=10)
    key = created.json()["order_key"]
    deadline = time.monotonic() + 30
    webhook = None
    while time.monotonic() < deadline:
        order = requests.get(f"{stack.api_url}/v1/orders/{key}", headers=ana, timeout=5).json()
        webhook = (order.get("deliveries") or {}).get("webhook")
        if webhook and webhook["delivered"]:
            break
        time.sleep(0.05)
    assert webhook and webhook["delivered"], webhook
    assert webhook["url"].endswith("/hooks/credito-pj") and ":9100/" not in webhook["url"]


def test_a_read_only_person_cannot_create_orders(stack):
    carla = bearer(stack.api_url, "carla.leitura")
    refused = requests.post(f"{stack.api_url}/v1/orders", json=sc.order_body("QUORUM_AB"), headers=carla, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"
    assert requests.get(f"{stack.api_url}/v1/orders", headers=carla, timeout=5).status_code == 200


def test_refreshed_tokens_work_and_the_old_refresh_token_does_not(stack):
    tokens = sign_in(stack.api_url, "ana.credito")
    token_url = f"{stack.api_url}/oidc/token"
    fresh = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "client_id": "portal", "refresh_token": tokens["refresh_token"]},
        timeout=5,
    )
    assert fresh.status_code == 200
    auth = {"Authorization": "Bearer " + fresh.json()["access_token"]}
    assert requests.get(f"{stack.api_url}/v1/orders", headers=auth, timeout=5).status_code == 200
    again = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "client_id": "portal", "refresh_token": tokens["refresh_token"]},
        timeout=5,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
