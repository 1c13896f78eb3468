"""The HTTP layer: status codes, problem documents, headers — over fakes, through Chalice's test client."""

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from chalice.test import Client

from chalicelib.bootstrap import Container, set_container
from chalicelib.services.intake import IntakeService
from chalicelib.settings import Settings
from tests.fakes import FixedClock, InMemoryOrderRepository, RecordingQueue, StaticAreas, StaticDomains
from tests.support import SETTINGS_ENV
from tests.unit.test_auth_support import AUTH_ENV, bearer, serving_jwks
from tests.unit.test_intake_service import AREA, DOMAINS
from tests.unit.test_order_request import valid_body

ENV = {
    **SETTINGS_ENV,
    "AME_RETRY_AFTER_SECONDS": "7",
    **AUTH_ENV,
}


@contextmanager
def api_over_fakes(env: dict[str, str]):
    """Chalice's test client over the real app, with every port of the container faked."""
    import app as app_module

    c = Container(Settings.from_env(env))
    c.repository = InMemoryOrderRepository()
    c.queue = RecordingQueue()
    c.areas = StaticAreas({"CREDITO_PJ": AREA})
    c.domains = StaticDomains(DOMAINS)
    executor = ThreadPoolExecutor(4)
    c.intake = IntakeService(c.areas, c.domains, c.repository, c.queue, FixedClock(), executor)
    set_container(c)
    try:
        with serving_jwks(), Client(app_module.app) as client:
            yield client, c
    finally:
        set_container(None)
        executor.shutdown()


@pytest.fixture()
def api():
    with api_over_fakes(ENV) as served:
        yield served


AUTH = bearer()


def post(client, body, headers=None):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post(
        "/v1/orders", body=raw, headers={"Content-Type": "application/json", **AUTH, **(headers or {})}
    )


def test_post_answers_202_with_location_and_get_reads_it_back(api):
    client, _ = api
    response = post(client, valid_body())
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body["status"] == "RECEIVED" and body["amount"] == "250000.00"
    assert response.headers["Location"] == f"/v1/orders/{body['order_key']}"
    got = client.http.get(response.headers["Location"], headers=AUTH)
    assert got.status_code == 200
    view = json.loads(got.body)
    assert view["requester"] == {"person_type": "PJ", "document": "11222333000181"}
    assert view["result"] is None and view["created_at"].endswith("Z")


def test_invalid_document_is_a_422_problem_naming_the_field(api):
    client, c = api
    response = post(client, valid_body(requester={"person_type": "PJ", "document": "11.222.333/0001-00"}))
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert problem["status"] == 422
    assert {"field": "requester.document", "code": "INVALID_DOCUMENT"}.items() <= problem["errors"][0].items()
    assert c.repository.orders == {}


def test_body_that_is_not_json_is_400(api):
    client, _ = api
    response = post(client, b"{not json")
    assert response.status_code == 400 and json.loads(response.body)["code"] == "MALFORMED_JSON"


def test_empty_body_is_400(api):
    client, _ = api
    assert post(client, b"").status_code == 400


def test_body_over_256_kib_is_413(api):
    client, c = api
    big = valid_body(external_reference="x" * 10)
    big["documents"] = [{"document_type": "CCB", "title": "t" * 200}] * 1400
    response = post(client, json.dumps(big))
    assert response.status_code == 413 and c.repository.orders == {}


def test_partner_down_is_503_with_retry_after(api):
    client, c = api
    c.areas.fail = True
    response = post(client, valid_body())
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert c.repository.orders == {}


def test_idempotent_replay_gives_the_same_answer_and_reused_key_conflicts(api):
    client, c = api
    first = post(client, valid_body(), {"Idempotency-Key": "abc"})
    again = post(client, valid_body(), {"Idempotency-Key": "abc"})
    assert again.status_code == 202 and again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = post(client, valid_body(amount="10.00"), {"Idempotency-Key": "abc"})
    assert other.status_code == 409 and len(c.repository.orders) == 1


def test_idempotency_key_too_long_is_422(api):
    client, _ = api
    response = post(client, valid_body(), {"Idempotency-Key": "k" * 129})
    assert response.status_code == 422
    assert json.loads(response.body)["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("key", ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-a-key", "01arz3ndektsv4rrffq69g5fav"])
def test_unknown_order_is_404_problem(api, key):
    client, _ = api
    response = client.http.get(f"/v1/orders/{key}", headers=AUTH)
    assert response.status_code == 404
    assert json.loads(response.body)["code"] == "ORDER_NOT_FOUND"


def test_another_areas_order_looks_missing(api):
    client, c = api
    key = json.loads(post(client, valid_body()).body)["order_key"]
    c.repository.orders[key] = c.repository.orders[key].model_copy(update={"area_code": "OUTRA_AREA"})
    assert client.http.get(f"/v1/orders/{key}", headers=AUTH).status_code == 404


def test_unexpected_error_is_a_500_problem_not_a_stack_trace(api):
    client, c = api
    c.repository.fail_next_create = RuntimeError("boom")
    response = post(client, valid_body())
    assert response.status_code == 500
    assert json.loads(response.body)["code"] == "INTERNAL_ERROR" and "boom" not in response.body.decode()


def test_ready_answers_when_the_database_does_and_503_when_it_does_not(api):
    client, c = api

    class Down:
        def ping(self):
            raise OSError("connection refused")

    c.repository.ping = lambda: None
    ready = client.http.get("/ready")
    assert ready.status_code == 200 and json.loads(ready.body) == {"status": "ok"}
    c.repository = Down()
    response = client.http.get("/ready")
    assert response.status_code == 503 and "Retry-After" in response.headers
