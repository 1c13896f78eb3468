"""What the HTTP routes declared in api.py run: thin views over the intake, query and simulation services.

Loaded by a route's first call, not by `import app`. Each view takes the current request from its route
(this module never imports api.py: the routes depend on the views, not the other way round). Every view
answers through `endpoint`: it accepts or makes the X-Request-Id, checks identity and scope, maps errors
to problem documents and adds the CORS headers of the configured portal origins.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any

from chalice import AuthResponse, Response

from chalicelib.auth import SCOPE_READ, SCOPE_SIMULATE, SCOPE_WRITE, AreaNotAllowed, Caller, authorizer_context
from chalicelib.bootstrap import container
from chalicelib.entrypoints.presenters import accepted_view, history_view, order_view, page_view
from chalicelib.entrypoints.problems import BadRequest, field_error, problem, with_problems
from chalicelib.services.search import MAX_WAIT_SECONDS

MAX_BODY_BYTES = 256 * 1024
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
EXPOSED_HEADERS = "Location, Retry-After, Idempotent-Replayed, X-Request-Id, ETag, Preference-Applied"
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, If-None-Match, Prefer"
PREFLIGHT_MAX_AGE = "600"
# The X-Request-Id of the request this thread is answering (records that must point at the logs keep it).
_CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("ame_request_id", default=None)

# What a CORS preflight answers per path (api.py declares one OPTIONS route for each).
PREFLIGHT_METHODS = {
    "/v1/orders": "GET, POST, OPTIONS",
    "/v1/orders/{order_key}": "GET, OPTIONS",
    "/v1/orders/{order_key}/history": "GET, OPTIONS",
    "/v1/quorum/simulations": "POST, OPTIONS",
    "/v1/areas/{area_code}/options": "GET, OPTIONS",
}


def _retry_after() -> int:
    return container().settings.retry_after_seconds


def ame_token(auth_request: Any) -> AuthResponse:
    principal, context = authorizer_context(container().token_verifier, auth_request.token)
    return AuthResponse(routes=["*"], principal_id=principal, context=context)


# -- the wrapper every route goes through ----------------------------------------------------------


def _request_id(headers: Any) -> str:
    given = headers.get("x-request-id")
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


def _bind_request_id(request_id: str) -> None:
    from chalicelib.observability import bind_request

    bind_request(request_id)


def _allowed_origins() -> frozenset[str]:
    from chalicelib.settings import SettingsError

    try:
        raw = container().settings.cors_origins
    except SettingsError:  # already answered as a problem by the route; no CORS grant on a broken setup
        return frozenset()
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def _cors_headers(origin: str | None) -> dict[str, str]:
    allowed = _allowed_origins()
    if not allowed:
        return {}
    if origin and origin.rstrip("/") in allowed:
        return {
            "Access-Control-Allow-Origin": origin,
            "Vary": "Origin",
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        }
    return {"Vary": "Origin"}


def _as_response(value: Any) -> Response:
    if isinstance(value, Response):
        return value
    return _json(200, value)


def endpoint(scope: str | tuple[str, ...] | None) -> Callable:
    """The view is called with the route's request first; with a `scope` (or any of a tuple of scopes), the
    verified Caller second."""

    def decorate(view: Callable) -> Callable:
        @with_problems(_retry_after)
        def checked(request: Any, *args: Any, **kwargs: Any) -> Any:
            if scope is None:
                return view(request, *args, **kwargs)
            context = (request.context or {}).get("authorizer")
            caller = Caller.from_context(context)
            caller.require(scope)
            return view(request, caller, *args, **kwargs)

        @wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Response:
            request_id = _request_id(request.headers)
            _bind_request_id(request_id)
            _CURRENT_REQUEST_ID.set(request_id)
            response = _as_response(checked(request, *args, **kwargs))
            response.headers = {
                **(response.headers or {}),
                REQUEST_ID_HEADER: request_id,
                **_cors_headers(request.headers.get("origin")),
            }
            return response

        return wrapper

    return decorate


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _idempotency_key(headers: Any) -> str | None:
    value = headers.get("idempotency-key")
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not all(" " <= ch <= "~" for ch in value):
        raise BadRequest(
            422,
            "VALIDATION_FAILED",
            "a requisição tem campos inválidos",
            errors=[
                field_error(
                    field="Idempotency-Key", code="INVALID_FORMAT", message="deve ter de 1 a 128 caracteres imprimíveis"
                )
            ],
        )
    return value


def _parse_body(request: Any) -> Any:
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(415, "UNSUPPORTED_MEDIA_TYPE", "envie o corpo como application/json")
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, "BODY_TOO_LARGE", f"o corpo excede {MAX_BODY_BYTES // 1024} KiB")
    from chalicelib.entrypoints.json_body import parse_json

    return parse_json(raw)  # depth and number length limited: hostile JSON is a 400, never a 500


def _query_params(request: Any) -> dict[str, list[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params} if params else {}


# -- public routes ---------------------------------------------------------------------------------


@endpoint(None)
def health(request: Any) -> dict:
    return {"status": "ok"}


@endpoint(None)
def ready(request: Any) -> dict:
    """Ready to take orders: the database answers (partners are checked per request, with 503s)."""
    from chalicelib.domain.errors import DependencyUnavailable

    try:
        container().repository.ping()
    except Exception as exc:
        raise DependencyUnavailable("banco de dados", "banco de dados indisponível; tente novamente") from exc
    return {"status": "ok"}


@endpoint(None)
def openapi_document(request: Any) -> Response:
    from chalicelib.openapi import document_json

    return Response(body=document_json(), status_code=200, headers={"Content-Type": "application/json"})


# The API reference page and its files: no inline script or style, never framed (docs/api.md).
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@endpoint(None)
def docs_page(request: Any) -> Response:
    from chalicelib.openapi import docs_html

    return Response(
        body=docs_html(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", **DOCS_HEADERS},
    )


@endpoint(None)
def docs_asset(request: Any, asset: str) -> Response:
    from chalicelib.openapi import DOCS_ASSETS, docs_asset_text

    content_type = DOCS_ASSETS.get(asset)
    text = docs_asset_text(asset) if content_type else None
    if text is None:
        return problem(
            404,
            "ROUTE_NOT_FOUND",
            "rota inexistente"
            if content_type is None
            else "arquivo da documentação ausente no pacote: rode `make apidocs`",
        )
    return Response(
        body=text,
        status_code=200,
        headers={"Content-Type": content_type, "Cache-Control": "public, max-age=3600", **DOCS_HEADERS},
    )


# -- orders ----------------------------------------------------------------------------------------


def _throttle(caller: Caller, action: str) -> None:
    """The caller's token bucket for `action`, taken before anything else is read, parsed, called or
    written: over the limit the answer is 429 with Retry-After and nothing was done (docs/security.md)."""
    container().caller_throttle.check(caller.client_id, action)


@endpoint(SCOPE_WRITE)
def create_order(request: Any, caller: Caller) -> Response:
    from chalicelib.domain.throttling import ACTION_CREATE_ORDER

    _throttle(caller, ACTION_CREATE_ORDER)
    key = _idempotency_key(request.headers)
    body = _parse_body(request)
    area_code = body.get("area_code") if isinstance(body, dict) else None
    if isinstance(area_code, str) and not caller.serves(area_code.strip()):
        # Checked before the area is looked up: a caller learns nothing about areas it does not serve.
        raise AreaNotAllowed(area_code)
    result = container().intake.create(caller.client_id, body, key)
    headers = {"Location": f"/v1/orders/{result.order.order_key}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(202, accepted_view(result.order), headers)


@endpoint(SCOPE_READ)
def search_orders(request: Any, caller: Caller) -> Response:
    from chalicelib.services.search import parse_query

    page = container().order_queries.search(caller, parse_query(_query_params(request)))
    return _json(200, page_view(page))


# A read that waits for a change (RFC 7240 `Prefer: wait=N` with RFC 9110 `If-None-Match`): the answer
# comes as soon as the order differs from the representation the caller has, or as 304 after N seconds
# (at most MAX_WAIT_SECONDS, services/search.py).
_WAIT_PREFERENCE = re.compile(r'(?:^|[,;])\s*wait\s*=\s*"?(\d{1,6})"?\s*(?=$|[,;])', re.IGNORECASE)


def _preferred_wait(headers: Any) -> int | None:
    """Seconds the caller prefers to wait, capped; None without a usable `wait` preference (RFC 7240: an
    unknown or malformed preference is ignored, never an error)."""
    found = _WAIT_PREFERENCE.search(headers.get("prefer") or "")
    seconds = min(int(found.group(1)), MAX_WAIT_SECONDS) if found else 0
    return seconds or None


def _known_etags(headers: Any) -> frozenset[str]:
    """The entity tags of If-None-Match, compared weakly as RFC 9110 says for this header."""
    value = headers.get("if-none-match") or ""
    return frozenset(tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip())


def _stamp_tag(version: int, updated_at: Any) -> str:
    """The first part of an order's ETag: what changes whenever a pending order's representation does
    (services/ports.OrderStamp), so a waiting read can compare one row instead of the whole order."""
    return f"{version}.{int(updated_at.timestamp() * 1_000_000)}"


def _etag(text: str, order: Any) -> str:
    """The tag of the JSON text answered for `order`: its stamp, then a digest of those very bytes."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return f'"{_stamp_tag(order.version, order.updated_at)}.{digest}"'


@endpoint(SCOPE_READ)
def get_order(request: Any, caller: Caller, order_key: str) -> Response:
    from chalicelib.domain.throttling import ACTION_WAIT

    queries = container().order_queries
    known = _known_etags(request.headers)
    wait = _preferred_wait(request.headers) if known and "*" not in known else None
    if wait and not container().caller_throttle.allows(caller.client_id, ACTION_WAIT):
        wait = None  # over its limit of held reads: answered at once, without Preference-Applied
    shown: dict[str, str] = {}  # the last representation rendered (its JSON text), and its tag

    def render(detail: Any) -> str:
        shown["text"] = json.dumps(order_view(detail.order, detail.deliveries), ensure_ascii=False)
        shown["etag"] = _etag(shown["text"], detail.order)
        return shown["etag"]

    def held_tag(stamp: Any) -> str | None:
        """The caller's tag made for this stamp, if it holds one."""
        prefix = f'"{_stamp_tag(stamp.version, stamp.updated_at)}.'
        return next((tag for tag in known if tag.startswith(prefix)), None)

    if wait:
        queries.detail_once_changed(
            caller, order_key, lambda d: render(d) in known, wait, same_stamp=lambda s: held_tag(s) is not None
        )
    else:
        render(queries.detail(caller, order_key))
    if "etag" not in shown:  # the wait ended on an unchanged stamp: the caller's representation holds
        shown["etag"] = held_tag(queries.stamp(caller, order_key)) or next(iter(known))
    # no-cache: a browser's cache may keep the body but asks again every time (the status moves).
    headers = {"ETag": shown["etag"], "Cache-Control": "private, no-cache"}
    if wait:
        headers["Preference-Applied"] = f"wait={wait}"
    if headers["ETag"] in known or "*" in known:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=shown["text"], status_code=200, headers={"Content-Type": "application/json", **headers})


@endpoint(SCOPE_READ)
def order_history(request: Any, caller: Caller, order_key: str) -> Response:
    order, changes = container().order_queries.history(caller, order_key)
    return _json(200, history_view(order, changes))


# -- analytics -------------------------------------------------------------------------------------


@endpoint(SCOPE_READ)
def insights(request: Any, caller: Caller) -> Response:
    service = container().insights
    area_code, first, last = service.parse(_query_params(request))
    if not caller.serves(area_code):  # tenancy as for orders: only the caller's areas
        raise AreaNotAllowed(area_code)
    return _json(200, service.answer(area_code, first, last))


# -- the portal's form ------------------------------------------------------------------------------

OPTIONS_MAX_AGE_SECONDS = 60


@endpoint((SCOPE_READ, SCOPE_WRITE))
def area_options(request: Any, caller: Caller, area_code: str) -> Response:
    from chalicelib.domain.errors import AreaNotFound

    if not caller.serves(area_code):
        raise AreaNotFound(area_code)  # another area looks like one that does not exist
    body = container().area_options.for_area(area_code)
    return _json(200, body, {"Cache-Control": f"private, max-age={OPTIONS_MAX_AGE_SECONDS}"})


# -- what-if ---------------------------------------------------------------------------------------


@endpoint(SCOPE_SIMULATE)
def simulate_quorum(request: Any, caller: Caller) -> Response:
    from chalicelib.domain.throttling import ACTION_SIMULATE

    _throttle(caller, ACTION_SIMULATE)
    # Tenancy (the area must be one of the caller's), the audit record and CPF masking: the service's.
    answer = container().quorum_simulator.simulate(caller, _parse_body(request), _CURRENT_REQUEST_ID.get())
    return _json(200, answer, {"Cache-Control": "no-store"})


# -- CORS preflight: answered without a token (browsers send none), only for the portal's origins -----


@endpoint(None)
def preflight(request: Any, path: str) -> Response:
    """`path` is the route's template (a key of PREFLIGHT_METHODS), not the URL asked."""
    origin = request.headers.get("origin")
    cors = _cors_headers(origin)
    if origin and "Access-Control-Allow-Origin" not in cors:
        return problem(403, "CORS_ORIGIN_NOT_ALLOWED", "origem não autorizada a chamar esta API")
    headers = {**cors, "Allow": PREFLIGHT_METHODS[path]}
    if "Access-Control-Allow-Origin" in cors:
        headers.update(
            {
                "Access-Control-Allow-Methods": PREFLIGHT_METHODS[path],
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            }
        )
    return Response(body="", status_code=204, headers=headers)
