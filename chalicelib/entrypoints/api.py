"""HTTP routes of AME (its OpenAPI document: chalicelib/openapi.py): explicit declarations, each handing its
request to a view of api_views.py, imported on the route's first call.

API Gateway's handler is `app.app`, so this module is loaded with every API cold start: it holds only
paths, methods and the authorizer. What a route runs (identity, problems, presenters, services) loads with
the route's first request.
"""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Blueprint, Response

api = Blueprint(__name__)

# API Gateway keeps an authorizer's answer this long per token; with the verifier's leeway it bounds how
# long after `exp` a token can still be honoured.
AUTHORIZER_TTL_SECONDS = 30


@api.authorizer(ttl_seconds=AUTHORIZER_TTL_SECONDS)
def ame_token(auth_request: Any) -> AuthResponse:
    from chalicelib.entrypoints import api_views

    return api_views.ame_token(auth_request)


# -- public ----------------------------------------------------------------------------------------


@api.route("/health", methods=["GET"])
def health() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.health(api.current_request)


@api.route("/ready", methods=["GET"])
def ready() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.ready(api.current_request)


@api.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.openapi_document(api.current_request)


@api.route("/docs", methods=["GET"])
def docs_page() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.docs_page(api.current_request)


@api.route("/docs/{asset}", methods=["GET"])
def docs_asset(asset: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.docs_asset(api.current_request, asset)


# -- orders ----------------------------------------------------------------------------------------


@api.route("/v1/orders", methods=["POST"], content_types=["*/*"], authorizer=ame_token)
def create_order() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.create_order(api.current_request)


@api.route("/v1/orders", methods=["GET"], authorizer=ame_token)
def search_orders() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.search_orders(api.current_request)


@api.route("/v1/orders/{order_key}", methods=["GET"], authorizer=ame_token)
def get_order(order_key: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.get_order(api.current_request, order_key)


@api.route("/v1/orders/{order_key}/history", methods=["GET"], authorizer=ame_token)
def order_history(order_key: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.order_history(api.current_request, order_key)


# -- the portal's form: reference data of one area ----------------------------------------------------


@api.route("/v1/areas/{area_code}/options", methods=["GET"], authorizer=ame_token)
def area_options(area_code: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.area_options(api.current_request, area_code)


# -- analytics: the daily roll-up of one area (docs/analytics.md) ---------------------------------------


@api.route("/v1/insights", methods=["GET"], authorizer=ame_token)
def insights() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.insights(api.current_request)


# -- what-if ---------------------------------------------------------------------------------------


@api.route("/v1/quorum/simulations", methods=["POST"], content_types=["*/*"], authorizer=ame_token)
def simulate_quorum() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.simulate_quorum(api.current_request)


# -- CORS preflight: answered without a token (browsers send none), only for the portal's origins -----


@api.route("/v1/orders", methods=["OPTIONS"])
def preflight_v1_orders() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.preflight(api.current_request, "/v1/orders")


@api.route("/v1/orders/{order_key}", methods=["OPTIONS"])
def preflight_v1_orders_order_key(order_key: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.preflight(api.current_request, "/v1/orders/{order_key}")


@api.route("/v1/orders/{order_key}/history", methods=["OPTIONS"])
def preflight_v1_orders_order_key_history(order_key: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.preflight(api.current_request, "/v1/orders/{order_key}/history")


@api.route("/v1/quorum/simulations", methods=["OPTIONS"])
def preflight_v1_quorum_simulations() -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.preflight(api.current_request, "/v1/quorum/simulations")


@api.route("/v1/areas/{area_code}/options", methods=["OPTIONS"])
def preflight_v1_areas_area_code_options(area_code: str) -> Response:
    from chalicelib.entrypoints import api_views

    return api_views.preflight(api.current_request, "/v1/areas/{area_code}/options")
