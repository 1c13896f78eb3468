"""End to end over HTTP: `python -m ame_local run`, then create, re-submit and read orders."""

from __future__ import annotations

import time

import pytest
import requests

from ame_local.simulator import scenarios as sc
from tests.e2e.stack_process import running_stack

pytestmark = pytest.mark.e2e


AUTH: dict[str, str] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("e2e")) as running:
        AUTH.update(running.auth())
        yield running


def wait_terminal(api: str, key: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        order = requests.get(f"{api}/v1/orders/{key}", headers=AUTH, timeout=5).json()
        seen.append(order["status"])
        if order["status"] in ("QUORUM_MET", "NO_QUORUM", "FAILED"):
            order["_seen"] = seen
            return order
        time.sleep(0.05)
    raise AssertionError(f"order {key} not terminal after {timeout}s; statuses seen: {seen[-5:]}")


def post(api: str, body, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", **AUTH}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{api}/v1/orders", json=body, headers=headers, timeout=10)


def test_health_answers(stack):
    assert requests.get(f"{stack.api_url}/health", timeout=5).json() == {"status": "ok"}


def test_order_is_accepted_and_moves_on_to_its_verdict(stack):
    response = post(stack.api_url, sc.order_body("QUORUM_AB", ["PF_KNOWN"], external_reference="e2e-1"))
    assert response.status_code == 202, response.text
    key = response.json()["order_key"]
    assert response.headers["Location"] == f"/v1/orders/{key}"
    order = wait_terminal(stack.api_url, key)
    assert order["status"] == "QUORUM_MET"
    requester, guarantor = order["result"]["parties"]
    assert requester["document"] == sc.document_of("QUORUM_AB") and requester["quorum_met"]
    assert guarantor["participants"][0]["name"] and guarantor["quorum_met"]


def test_metrics_endpoint_shows_the_partner_figures_of_the_orders_it_served(stack):
    from prometheus_client.parser import text_string_to_metric_families

    response = post(stack.api_url, sc.order_body("QUORUM_AB", ["PF_KNOWN"], external_reference="e2e-metrics"))
    assert response.status_code == 202, response.text
    assert wait_terminal(stack.api_url, response.json()["order_key"])["status"] == "QUORUM_MET"

    deadline = time.monotonic() + 30
    while True:  # the breaker gauges come with the first report_operations run
        scraped = requests.get(f"{stack.api_url}/metrics", timeout=5)
        assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(scraped.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        if any(name == "ame_partner_breaker_open" for name, _ in samples) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0)

    for partner in ("parametrizador", "poderes", "pessoas", "cadastro"):
        assert value("ame_partner_latency_seconds_count", partner=partner) > 0, partner
        assert value("ame_partner_latency_seconds_sum", partner=partner) > 0, partner
    for partner in ("poderes", "pessoas"):
        assert value("ame_partner_calls_per_order_count", partner=partner) > 0, partner
        assert value("ame_partner_calls_per_order_sum", partner=partner) >= 1, partner
    assert value("ame_verdicts_total", area="CREDITO_PJ", verdict="QUORUM_MET") >= 1
    assert value("ame_orders_received_total", area="CREDITO_PJ") >= 1
    assert ("ame_partner_breaker_open", (("partner", "poderes"),)) in samples
    assert value("ame_partner_breaker_open", partner="poderes") == 0
    assert ("ame_parked_orders", ()) in samples


@pytest.mark.parametrize(
    "name",
    ["NO_REPRESENTATIVES", "ALL_RESTRICTED", "NO_ACTIVE_OPERATOR", "SINGLE_NO_SOLO_RULE", "TWO_GROUPS_ONE_PERSON"],
)
def test_scenarios_without_quorum_show_the_reason(stack, name):
    key = post(stack.api_url, sc.order_body(name)).json()["order_key"]
    order = wait_terminal(stack.api_url, key)
    assert order["status"] == "NO_QUORUM"
    assert order["result"]["parties"][0]["reason"] == sc.SCENARIOS[name]["expected_reason"]


def test_resubmitting_with_the_same_idempotency_key_returns_the_same_order(stack):
    body = sc.order_body("ALPHANUMERIC", external_reference="e2e-idem")
    first = post(stack.api_url, body, key="e2e-idem-1")
    again = post(stack.api_url, body, key="e2e-idem-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    conflict = post(stack.api_url, {**body, "amount": "1.00"}, key="e2e-idem-1")
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == "application/problem+json"


def test_invalid_order_is_refused_with_the_field_named_and_nothing_stored(stack):
    body = sc.order_body("QUORUM_AB")
    body["requester"]["document"] = "11.222.333/0001-80"
    response = post(stack.api_url, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "requester.document"


def test_inactive_area_and_unknown_domain_key_are_422(stack):
    inactive = post(stack.api_url, sc.order_body("QUORUM_AB", area_code=sc.AREA_INACTIVE))
    assert inactive.status_code == 422 and inactive.json()["errors"][0]["code"] == "AREA_INACTIVE"
    product = post(stack.api_url, sc.order_body("QUORUM_AB", product_code=sc.PRODUCT_INACTIVE))
    assert product.status_code == 422 and product.json()["errors"][0]["code"] == "DOMAIN_KEY_INACTIVE"


def test_partner_outage_is_503_with_retry_after(stack):
    admin = f"{stack.partners_url}/_admin/faults"
    requests.post(admin, json={"parametrizador": {"down": True}}, timeout=5).raise_for_status()
    try:
        # A fresh area code so the cache cannot answer.
        response = post(stack.api_url, sc.order_body("QUORUM_AB", area_code=sc.AREA_WITHOUT_WEBHOOK))
    finally:
        requests.post(f"{stack.partners_url}/_admin/faults/reset", timeout=5).raise_for_status()
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1


def test_the_operator_command_reads_the_local_stacks_dead_letter_queues(stack):
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AME_AWS_ENDPOINT_URL": stack.aws_endpoint_url}
    run = subprocess.run(
        [str(root / "bin" / "ame"), "dlq", "list", "--queue", "creation"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    listed = json.loads(run.stdout)
    assert listed["queue"] == "creation" and listed["depth"] == 0 and listed["messages"] == []
