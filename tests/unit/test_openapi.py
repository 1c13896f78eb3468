"""The OpenAPI 3.1 document: valid, complete both ways, generated from the request models, served with /docs."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import jsonschema_rs
import pytest
from chalice.test import Client

from chalicelib.domain.orders import (
    DocumentRequest,
    OrderParty,
    OrderRequest,
    OrderStatus,
    PartyRole,
    PersonType,
    StatusChange,
    StoredOrder,
)
from chalicelib.entrypoints import presenters
from chalicelib.openapi import ERRORS, build_document
from chalicelib.services.order_views import OrderSummary, Party
from chalicelib.services.search import SearchPage
from chalicelib.services.simulation import SimulationRequest

PUBLIC = {("/health", "get"), ("/ready", "get"), ("/openapi.json", "get"), ("/docs", "get"), ("/docs/{asset}", "get")}


@pytest.fixture(scope="module")
def doc():
    return build_document()


def app_operations():
    import app as app_module

    # OPTIONS answers CORS preflights: browser plumbing, not part of the API a client programs against.
    return {
        (path, method.lower())
        for path, methods in app_module.app.routes.items()
        for method in methods
        if method != "OPTIONS"
    }


def test_document_is_valid_openapi_3_1(doc):
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    assert doc["openapi"].startswith("3.1")
    errors = [e.message for e in OPENAPI_31_VALIDATOR.iter_errors(doc)]
    assert errors == []


def test_every_schema_is_valid_json_schema_2020_12(doc):
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_route_is_documented_and_every_documented_route_exists(doc):
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == app_operations()


def test_every_route_but_the_public_ones_needs_a_token_and_documents_401_and_403(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if (path, method) in PUBLIC:
                assert op["security"] == []
                continue
            assert op["security"] == [{"bearerAuth": []}]
            assert {"401", "403", "500", "503"} <= set(op["responses"]), (path, method)


def test_every_error_is_a_problem_document_with_an_example_and_the_request_id(doc):
    for item in doc["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                assert "X-Request-Id" in response["headers"]
                if int(status) >= 400:
                    media = response["content"]["application/problem+json"]
                    assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
                    assert media["example"]["status"] == int(status)


def test_request_bodies_come_from_the_models_that_validate_them(doc):
    schemas = doc["components"]["schemas"]
    for model in (OrderRequest, SimulationRequest):
        documented = schemas[model.__name__]
        fields = {f.alias or name for name, f in model.model_fields.items()}
        assert set(documented["properties"]) == fields
        assert documented["additionalProperties"] is False
    assert schemas["OrderRequest"]["properties"]["amount"]["type"] == "string"


def test_the_examples_validate_against_their_schemas_and_models(doc):
    order_request = doc["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    OrderRequest.model_validate(order_request)
    simulation = doc["paths"]["/v1/quorum/simulations"]["post"]["requestBody"]["content"]["application/json"]["example"]
    SimulationRequest.model_validate(simulation)
    validator = _validator(doc, "OrderRequest")
    assert validator.is_valid(order_request)
    assert set(ERRORS) >= {400, 401, 403, 404, 409, 413, 415, 422, 500, 503}


def _validator(doc, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def _stored_order() -> StoredOrder:
    at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    party = OrderParty(position=0, role=PartyRole.REQUESTER, person_type=PersonType.PJ, document="11222333000181")
    return StoredOrder(
        order_key="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        status=OrderStatus.PROCESSING,
        status_detail="em processamento",
        created_by="bff",
        area_code="CREDITO_PJ",
        product_code="CCB_GIRO",
        platform="BANKLINE",
        signature_method="DIGITAL",
        amount=Decimal("10.5"),
        external_reference=None,
        requester=party,
        guarantors=[],
        documents=[DocumentRequest(document_type="CCB", title="t")],
        area_snapshot={},
        result={"quorum_met": False, "parties": []},
        created_at=at,
        updated_at=at,
    )


def test_what_the_presenters_produce_matches_the_documented_answers(doc):
    order = _stored_order()
    assert _validator(doc, "Order").is_valid(presenters.order_view(order, []))
    assert _validator(doc, "Order").is_valid(presenters.accepted_view(order))
    summary = OrderSummary(
        order_key=order.order_key,
        status=order.status,
        area_code="CREDITO_PJ",
        product_code="CCB_GIRO",
        platform="BANKLINE",
        signature_method="DIGITAL",
        amount="10.50",
        external_reference="x",
        requester=Party(person_type="PJ", document="11222333000181"),
        created_by="bff",
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
    page = presenters.page_view(SearchPage([summary], "abc", 20))
    assert _validator(doc, "OrderPage").is_valid(page)
    history = presenters.history_view(order, [StatusChange(status=OrderStatus.RECEIVED, at=order.created_at)])
    assert _validator(doc, "OrderHistory").is_valid(history)
    assert not _validator(doc, "OrderPage").is_valid({**page, "items": [{"order_key": 1}]})
    assert page["items"][0]["links"] == {"self": f"/v1/orders/{order.order_key}"}
    assert page["items"][0]["created_at"] == "2026-11-29T10:00:00Z"


# A party verdict as orders stored it before critical_signers, failed_rules and skipped_rules existed.
_OLDER_VERDICT = {
    "role": "REQUESTER",
    "person_type": "PJ",
    "document": "11222333000181",
    "power_code": "ASSINAR_CCB",
    "quorum_met": False,
    "reason": "NO_RULE_SATISFIED",
    "participants": [
        {
            "cpf": "52998224725",
            "name": "Maria",
            "groups": ["A"],
            "restricted": True,
            "active": False,
            "reasons": ["BLOCKED"],
        }
    ],
    "satisfied_rules": [],
    "signer_sets": [],
    "eligible_signers": [],
}


def test_the_order_result_is_the_registered_verdict_model_and_older_verdicts_read_as_empty_lists(doc):
    schemas = doc["components"]["schemas"]
    assert {"$ref": "#/components/schemas/OrderResult"} in schemas["Order"]["properties"]["result"]["anyOf"]
    assert schemas["OrderResult"]["properties"]["parties"]["items"] == {"$ref": "#/components/schemas/PartyVerdict"}
    order = _stored_order().model_copy(
        update={"status": OrderStatus.NO_QUORUM, "result": {"quorum_met": False, "parties": [_OLDER_VERDICT]}}
    )
    view = presenters.order_view(order, [])
    assert _validator(doc, "Order").is_valid(view)
    party = view["result"]["parties"][0]
    assert party["critical_signers"] == party["failed_rules"] == party["skipped_rules"] == []
    assert party["participants"][0]["reasons"] == ["BLOCKED"]
    # A verdict that lacks what every verdict has is not a verdict: the model refuses it.
    broken = {**_OLDER_VERDICT}
    del broken["quorum_met"]
    assert not _validator(doc, "PartyVerdict").is_valid(broken)
    failed = order.model_copy(
        update={
            "status": OrderStatus.FAILED,
            "result": {"quorum_met": False, "parties": [], "failure": {"error": "Boom", "message": "x"}},
        }
    )
    assert presenters.order_view(failed, [])["result"]["failure"] == {"error": "Boom", "message": "x"}


def test_openapi_json_and_docs_are_served_without_a_token():
    import app as app_module

    with Client(app_module.app) as client:
        served = client.http.get("/openapi.json")
        page = client.http.get("/docs")
    assert served.status_code == 200 and json.loads(served.body)["openapi"] == "3.1.0"
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert '<script src="docs/swagger-ui-bundle.js"></script>' in html and 'src="docs/ame-docs.js"' in html
    # Packaged assets only: nothing loaded from a CDN or any other host, and no inline script or style.
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "asset, kind",
    [
        ("ame-docs.js", "text/javascript"),
        ("ame-docs.css", "text/css"),
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
    ],
)
def test_docs_assets_are_served_from_the_package(asset, kind):
    import app as app_module

    with Client(app_module.app) as client:
        response = client.http.get(f"/docs/{asset}")
    assert response.status_code == 200, "run `make apidocs` (make test does) to vendor Swagger UI"
    assert response.headers["Content-Type"].startswith(kind) and len(response.body) > 500
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_swagger_ui_comes_from_the_pinned_package():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pinned = json.loads((root / "apidocs" / "package.json").read_text())["dependencies"]["swagger-ui-dist"]
    locked = json.loads((root / "apidocs" / "package-lock.json").read_text())
    assert locked["packages"]["node_modules/swagger-ui-dist"]["version"] == pinned
    assert "-" not in pinned and "^" not in pinned and "~" not in pinned


@pytest.mark.parametrize("asset", ["other.js", "..%2Fdocs.html", "swagger-ui-bundle.js.map"])
def test_other_docs_paths_are_404(asset):
    import app as app_module

    with Client(app_module.app) as client:
        response = client.http.get(f"/docs/{asset}")
    assert response.status_code == 404 and json.loads(response.body)["code"] == "ROUTE_NOT_FOUND"
