"""HTTP routes of AME (contracts §2, issue 8): the declarations, each handing over to api_views on first call.

`import app` runs in every Lambda function Chalice deploys (API, authorizer, queue consumers, workflow
tasks), so this module holds only paths, methods and authorizer; what a route runs (identity, problems,
presenters, services) loads with the route's first request (chalicelib/entrypoints/api_views.py).
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

api = Blueprint(__name__)

# API Gateway keeps an authorizer's answer this long per token; with the verifier's leeway it bounds how
# long after `exp` a token can still be honoured.
AUTHORIZER_TTL_SECONDS = 30

PREFLIGHT_METHODS = {
    "/v1/orders": "GET, POST, OPTIONS",
    "/v1/orders/{order_key}": "GET, OPTIONS",
    "/v1/orders/{order_key}/history": "GET, OPTIONS",
    "/v1/quorum/simulations": "POST, OPTIONS",
    "/v1/areas/{area_code}/options": "GET, OPTIONS",
}


def _views() -> Any:
    from chalicelib.entrypoints import api_views

    return api_views


@api.authorizer(ttl_seconds=AUTHORIZER_TTL_SECONDS)
def ame_token(auth_request: Any) -> Any:
    return _views().ame_token(auth_request)


def _route(path: str, method: str, view: str, **options: Any) -> None:
    """`method path`, answered by api_views.<view> (scope, problems, CORS and X-Request-Id included)."""

    def handle(**params: Any) -> Any:
        return getattr(_views(), view)(**params)

    handle.__name__ = view
    api.route(path, methods=[method], **options)(handle)


# public
_route("/health", "GET", "health")
_route("/ready", "GET", "ready")
_route("/openapi.json", "GET", "openapi_document")
_route("/docs", "GET", "docs_page")
_route("/docs/{asset}", "GET", "docs_asset")
# orders
_route("/v1/orders", "POST", "create_order", content_types=["*/*"], authorizer=ame_token)
_route("/v1/orders", "GET", "search_orders", authorizer=ame_token)
_route("/v1/orders/{order_key}", "GET", "get_order", authorizer=ame_token)
_route("/v1/orders/{order_key}/history", "GET", "order_history", authorizer=ame_token)
# the portal's form (reference data of one area)
_route("/v1/areas/{area_code}/options", "GET", "area_options", authorizer=ame_token)
# what-if
_route("/v1/quorum/simulations", "POST", "simulate_quorum", content_types=["*/*"], authorizer=ame_token)


# -- CORS preflight: answered without a token (browsers send none), only for the portal's origins -----

def _preflight(path: str) -> None:
    def handle(**params: Any) -> Any:
        return _views().preflight(path, **params)

    handle.__name__ = "preflight_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    api.route(path, methods=["OPTIONS"])(handle)


for _path in PREFLIGHT_METHODS:
    _preflight(_path)
