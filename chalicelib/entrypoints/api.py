"""HTTP routes of AME (contracts §2): thin handlers over the intake and query services."""
from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response

from chalicelib.bootstrap import container
from chalicelib.domain.errors import OrderNotFound
from chalicelib.domain.orders import FieldError
from chalicelib.entrypoints.presenters import accepted_view, order_view
from chalicelib.entrypoints.problems import BadRequest, with_problems

api = Blueprint(__name__)

MAX_BODY_BYTES = 256 * 1024
_ORDER_KEY_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _retry_after() -> int:
    return container().settings.retry_after_seconds


def _caller() -> str:
    # Until authentication lands every request is the local caller (contracts §2).
    return container().settings.local_caller


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def _idempotency_key(headers: Any) -> str | None:
    value = headers.get("idempotency-key")
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not all(" " <= ch <= "~" for ch in value):
        raise BadRequest(422, "VALIDATION_FAILED", "a requisição tem campos inválidos", errors=[
            FieldError(field="Idempotency-Key", code="INVALID_FORMAT",
                       message="deve ter de 1 a 128 caracteres imprimíveis")])
    return value


def _parse_body(raw: bytes | None) -> Any:
    raw = raw or b""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, "BODY_TOO_LARGE", f"o corpo excede {MAX_BODY_BYTES // 1024} KiB")
    if not raw.strip():
        raise BadRequest(400, "MALFORMED_JSON", "o corpo da requisição está vazio; envie um objeto JSON")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(400, "MALFORMED_JSON", f"o corpo não é JSON válido: {exc}") from None


@api.route("/health", methods=["GET"])
def health() -> dict:
    return {"status": "ok"}


@api.route("/v1/orders", methods=["POST"], content_types=["application/json"])
@with_problems(_retry_after)
def create_order() -> Response:
    request = api.current_request
    key = _idempotency_key(request.headers)
    body = _parse_body(request.raw_body)
    result = container().intake.create(_caller(), body, key)
    headers = {"Location": f"/v1/orders/{result.order.order_key}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(202, accepted_view(result.order), headers)


@api.route("/v1/orders/{order_key}", methods=["GET"])
@with_problems(_retry_after)
def get_order(order_key: str) -> Response:
    if not (len(order_key) == 26 and set(order_key) <= _ORDER_KEY_CHARS):
        raise OrderNotFound(order_key)
    order = container().repository.get_order(order_key)
    if order is None or order.created_by != _caller():
        raise OrderNotFound(order_key)  # another caller's order looks exactly like a missing one
    return _json(200, order_view(order))
