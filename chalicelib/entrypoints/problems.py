"""Errors mapped to RFC 9457 problem documents in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.adapters.db_errors import is_database_outage
from chalicelib.auth import AreaNotAllowed, ScopeMissing, TokenError
from chalicelib.domain.errors import (
    AreaNotFound,
    DependencyUnavailable,
    IdempotencyConflict,
    OrderNotFound,
    OrderValidationError,
)

if TYPE_CHECKING:
    from chalicelib.domain.orders import FieldError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://ame.example/problems/"


class BadRequest(Exception):
    def __init__(self, status: int, code: str, detail: str, errors: list[FieldError] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors or []


_TITLES = {
    400: "Requisição malformada",
    401: "Não autenticado",
    403: "Sem permissão",
    404: "Não encontrado",
    405: "Método não permitido",
    409: "Conflito",
    413: "Corpo grande demais",
    415: "Tipo de conteúdo não suportado",
    422: "Dados inválidos",
    500: "Erro interno",
    503: "Serviço temporariamente indisponível",
}


def field_error(**fields: str) -> FieldError:
    from chalicelib.domain.orders import FieldError  # on first error, not at cold start

    return FieldError(**fields)


def problem_document(
    status: int, code: str, detail: str, *, errors: list[FieldError] | None = None, instance: str | None = None
) -> dict[str, Any]:
    """The RFC 9457 problem document every error answer of AME carries (the API's, and the gateway's own
    401/404 built by infra/template/api.py). Pure: no I/O, no Chalice."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + code.lower().replace("_", "-"),
        "title": _TITLES.get(status, "Erro"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    return body


# -- the gateway's own answers: API Gateway's responses in infra/template/api.py and the local server's in
# ame_local/gateway.py are built here, so both give the same status and document.

MISSING_TOKEN_CHALLENGE = 'Bearer error="invalid_request"'


def route_not_found_document() -> dict[str, Any]:
    """No route has this path (API Gateway: MISSING_AUTHENTICATION_TOKEN)."""
    return problem_document(404, "ROUTE_NOT_FOUND", "rota inexistente")


def missing_token_document() -> dict[str, Any]:
    """A route that needs a token, called without the Authorization header (API Gateway: UNAUTHORIZED)."""
    return problem_document(
        401,
        "MISSING_TOKEN",
        "envie o cabeçalho Authorization: Bearer <token>",
        errors=[field_error(field="Authorization", code="MISSING_TOKEN", message="cabeçalho Authorization ausente")],
    )


def method_not_allowed_document() -> dict[str, Any]:
    """The path exists, the method does not (API Gateway: the ANY method's mock on every resource)."""
    return problem_document(
        405, "METHOD_NOT_ALLOWED", "método não suportado nesta rota; os aceitos estão no cabeçalho Allow"
    )


def allowed_methods(views: Mapping[str, Any]) -> list[str]:
    """The methods one path answers, given its Chalice route entries by method: theirs, plus OPTIONS when
    a view has CORS (API Gateway then answers the preflight)."""
    methods = {m.upper() for m in views}
    if any(getattr(view, "cors", None) for view in views.values()):
        methods.add("OPTIONS")
    return sorted(methods)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    body = problem_document(status, code, detail, errors=errors, instance=instance)
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": PROBLEM_JSON, **(headers or {})},
    )


def with_problems(retry_after: Callable[[], int]) -> Callable:
    """Decorator for routes: every error becomes a problem document; nothing leaks as a bare 500."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except BadRequest as exc:
                return problem(exc.status, exc.code, exc.detail, errors=exc.errors)
            except TokenError as exc:
                if exc.code == "JWKS_UNAVAILABLE":  # our issuer is down, the token may be fine
                    return problem(
                        503, "DEPENDENCY_UNAVAILABLE", exc.detail, headers={"Retry-After": str(retry_after())}
                    )
                return problem(
                    401,
                    exc.code,
                    exc.detail,
                    errors=[field_error(field="Authorization", code=exc.code, message=exc.detail)],
                    headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'},
                )
            except ScopeMissing as exc:
                return problem(
                    403,
                    "INSUFFICIENT_SCOPE",
                    f"o token não tem o escopo {exc.scope}",
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{exc.scope}"'},
                )
            except AreaNotAllowed as exc:
                return problem(
                    403,
                    "AREA_NOT_ALLOWED",
                    f"o chamador não atende a área {exc.area_code}",
                    errors=[
                        field_error(field=exc.field, code="AREA_NOT_ALLOWED", message="área fora das áreas do token")
                    ],
                )
            except OrderValidationError as exc:
                return problem(422, "VALIDATION_FAILED", "a requisição tem campos inválidos", errors=exc.errors)
            except IdempotencyConflict as exc:
                return problem(409, "IDEMPOTENCY_KEY_REUSED", str(exc))
            except OrderNotFound:
                return problem(404, "ORDER_NOT_FOUND", "ordem não encontrada")
            except AreaNotFound:
                return problem(404, "AREA_NOT_FOUND", "área não encontrada")
            except DependencyUnavailable as exc:
                return problem(503, "DEPENDENCY_UNAVAILABLE", str(exc), headers={"Retry-After": str(retry_after())})
            except Exception as exc:
                if is_database_outage(exc):
                    log.error("database unavailable", exc_info=True)
                    return problem(
                        503,
                        "DATABASE_UNAVAILABLE",
                        "banco de dados indisponível; tente novamente",
                        headers={"Retry-After": str(retry_after())},
                    )
                log.exception("unhandled error")
                return problem(500, "INTERNAL_ERROR", "erro interno inesperado")

        return wrapper

    return decorate
