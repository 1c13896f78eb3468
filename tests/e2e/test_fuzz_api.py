"""Schemathesis against /openapi.json on the local stack (a real process): no 5xx, nothing off the document.

Plus the identity cases a fuzzer does not try: no token, expired, another key, another area.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from ame_local.issuer import LocalIssuer
from tests.e2e.stack_process import running_stack

pytestmark = pytest.mark.e2e

AREAS = ["CREDITO_PJ", "CAMBIO_PF"]
POSITIVE_PER_OPERATION = 150
NEGATIVE_PER_OPERATION = 100
MIN_REQUESTS = 1000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # running_stack gives the stack and this test one issuer key: the test's tokens are accepted.
    with running_stack(tmp_path_factory.mktemp("fuzz"), {"AME_LOCAL_SCHEDULE_SECONDS": "60"}) as running:
        yield running


def auth(stack, areas=AREAS, **kwargs) -> dict[str, str]:
    return {"Authorization": "Bearer " + stack.issuer.mint("fuzzer", areas, **kwargs)}


def test_generated_requests_get_no_5xx_and_answers_that_match_the_document(stack):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json", timeout=10)
    headers = auth(stack, ttl_seconds=3600)
    session = requests.Session()
    sent: Counter = Counter()
    statuses: Counter = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in (
            (GenerationMode.POSITIVE, POSITIVE_PER_OPERATION),
            (GenerationMode.NEGATIVE, NEGATIVE_PER_OPERATION),
        ):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                response = case.call(base_url=stack.api_url, session=session, headers=headers, timeout=20)
                sent[operation.label] += 1
                statuses[response.status_code] += 1
                case.validate_response(response, checks=checks)

            try:
                exercise()
            except Exception as exc:  # hypothesis cannot build a negative case for an input-less operation
                if "Unsatisfiable" not in type(exc).__name__:
                    raise

    total = sum(sent.values())
    print(f"\nschemathesis: {total} requests; by operation {dict(sent)}; by status {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS, dict(sent)
    assert not any(status >= 500 for status in statuses)


def test_coverage_phase_is_clean_on_every_operation_and_method(stack, tmp_path):
    """Schemathesis' coverage phase: boundary values of every parameter and body field, missing and
    malformed parts, and every HTTP method each path does not declare (TRACE, PUT, HEAD, ...), with all of
    its checks. Unknown methods must answer 405 with `Allow` and a problem document, as the packaged
    gateway does (infra/template/api.py)."""
    import subprocess
    import sys
    from pathlib import Path

    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{stack.api_url}/openapi.json",
        "--phases",
        "coverage",
        "--checks",
        "all",
        "--workers",
        "1",
        "--seed",
        "15",
        "--no-color",
        "--header",
        "Authorization: " + auth(stack, ttl_seconds=3600)["Authorization"],
    ]
    # In a scratch folder: the CLI keeps a cache of crashes in ./.schemathesis.
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    summary = run.stdout[run.stdout.find("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout[-3000:]
    print(f"\nschemathesis coverage phase:\n{summary}")
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Coverage" in summary and "generated" in summary


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_a_method_a_path_does_not_declare_is_a_405_problem_with_allow_as_the_gateway_answers(stack, method):
    from chalicelib.entrypoints.problems import method_not_allowed_document

    response = requests.request(method, f"{stack.api_url}/health", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.headers["Content-Type"] == "application/problem+json"
    if method != "HEAD":
        assert response.json() == method_not_allowed_document()
    on_orders = requests.request("TRACE", f"{stack.api_url}/v1/orders", timeout=5)
    assert (on_orders.status_code, on_orders.headers["Allow"]) == (405, "GET, OPTIONS, POST")


def test_an_unknown_path_is_the_gateway_404_problem_whatever_the_method(stack):
    from chalicelib.entrypoints.problems import route_not_found_document

    for method in ("GET", "TRACE", "POST"):
        response = requests.request(method, f"{stack.api_url}/v1/nothing-here", timeout=5)
        assert _problem(response, 404) == route_not_found_document()


def _problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Request-Id"]
    return response.json()


def test_no_token_is_a_401_problem(stack):
    from chalicelib.entrypoints.problems import missing_token_document

    response = requests.get(f"{stack.api_url}/v1/orders", timeout=5)
    body = _problem(response, 401)
    assert body["errors"][0]["field"] == "Authorization"
    assert body == missing_token_document()  # the packaged gateway's UNAUTHORIZED answer
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'


def test_expired_token_is_a_401_problem(stack):
    expired = auth(stack, now=time.time() - 7200, ttl_seconds=60)
    assert (
        _problem(requests.get(f"{stack.api_url}/v1/orders", headers=expired, timeout=5), 401)["code"] == "TOKEN_EXPIRED"
    )


def test_token_signed_by_another_key_is_a_401_problem(stack):
    forged = LocalIssuer(LocalIssuer.generate().private_key, kid=stack.issuer.kid)
    headers = {"Authorization": "Bearer " + forged.mint("fuzzer", AREAS)}
    assert (
        _problem(requests.get(f"{stack.api_url}/v1/orders", headers=headers, timeout=5), 401)["code"]
        == "INVALID_SIGNATURE"
    )


def test_a_token_for_another_area_neither_creates_nor_sees_the_order(stack):
    from ame_local.simulator import scenarios as sc

    body = sc.order_body("QUORUM_AB", ["PF_KNOWN"], external_reference="fuzz-tenancy")
    created = requests.post(f"{stack.api_url}/v1/orders", json=body, headers=auth(stack, ["CREDITO_PJ"]), timeout=10)
    assert created.status_code == 202, created.text
    key = created.json()["order_key"]
    assert created.json()["created_by"] == "fuzzer"
    stranger = auth(stack, ["CAMBIO_PF"])
    refused = requests.post(f"{stack.api_url}/v1/orders", json=body, headers=stranger, timeout=10)
    assert _problem(refused, 403)["code"] == "AREA_NOT_ALLOWED"
    theirs = requests.get(f"{stack.api_url}/v1/orders/{key}", headers=stranger, timeout=5)
    missing = requests.get(f"{stack.api_url}/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=stranger, timeout=5)
    assert _problem(theirs, 404) == _problem(missing, 404)
    listed = requests.get(
        f"{stack.api_url}/v1/orders", params={"external_reference": "fuzz-tenancy"}, headers=stranger, timeout=5
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    mine = requests.get(
        f"{stack.api_url}/v1/orders",
        params={"external_reference": "fuzz-tenancy"},
        headers=auth(stack, ["CREDITO_PJ"]),
        timeout=5,
    )
    assert [i["order_key"] for i in mine.json()["items"]] == [key]


def test_docs_page_and_document_are_served_by_the_stack(stack):
    page = requests.get(f"{stack.api_url}/docs", timeout=5)
    assert page.status_code == 200 and "openapi.json" in page.text
    assert requests.get(f"{stack.api_url}/openapi.json", timeout=5).json()["openapi"] == "3.1.0"
