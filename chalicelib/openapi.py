"""The OpenAPI 3.1 document of AME's API, generated from the pydantic models that validate requests."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from chalicelib.domain.orders import AMOUNT_PATTERN, FieldError, OrderRequest, OrderStatus
from chalicelib.openapi_examples import ORDER_REQUEST_EXAMPLE, order_request
from chalicelib.openapi_insights import INSIGHTS_EXAMPLE, Insights, insights_parameters
from chalicelib.services.order_views import Order, OrderHistory, OrderPage, OrderResult
from chalicelib.services.search import MAX_WAIT_SECONDS, SearchQuery
from chalicelib.services.simulation import SimulationRequest

REF = "#/components/schemas/{model}"
OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"


class _MoneyAsString(GenerateJsonSchema):
    """Money is validated as a decimal string (contracts): say exactly that, not pydantic's number-or-string."""

    def decimal_schema(self, schema: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["250000.00"]}


# -- answers: the order routes' models live in services/order_views.py (the presenters dump them) ------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class SimulationParticipant(_Answer):
    cpf: str = Field(
        description=(
            "CPF; mascarado (***.***.***-25) quando `cpfs_masked`, inteiro só com o escopo ame:personal-data:read."
        )
    )
    ref: str | None = Field(
        None,
        description=(
            "Só na resposta mascarada: referência da pessoa nesta resposta (P1, P2...). Dois CPFs podem ter a "
            "mesma máscara; os demais campos que nomeiam pessoas trazem então esta referência."
        ),
    )
    name: str | None
    groups: list[str]
    restricted: bool
    active: bool
    reasons: list[str]
    joint_only: bool


class SimulationResult(_Answer):
    """The quorum engine's full evaluation: satisfied rules, signer sets, missing slots (`failed_rules`),
    critical signers and every excluded person with the reasons."""

    area_code: str
    company: str
    role: str
    power_code: str = Field(description="O poder consultado no Poderes: o da área para o papel (`role`).")
    platform: str | None
    operator_check: bool
    powers_found: bool
    cpfs_masked: bool = Field(
        description=(
            "true sem o escopo ame:personal-data:read: `participants[].cpf` vem mascarado e os demais campos "
            "com CPFs (signer_sets, eligible_by_requirement, failed_rules, critical_signers, signers_to_notify, "
            "unavailable, lint) trazem a `ref` do participante (ou o CPF mascarado de quem não é participante)."
        )
    )
    quorum_met: bool
    reason: str | None
    amount: str
    evaluated_on: str
    participants: list[SimulationParticipant]
    satisfied_rules: list[str]
    signer_sets: list[dict[str, Any]]
    eligible_by_requirement: list[dict[str, Any]]
    failed_rules: list[dict[str, Any]]
    skipped_rules: list[dict[str, Any]]
    critical_signers: list[str]
    signers_to_notify: list[str]
    unavailable: list[str]
    lint: list[dict[str, Any]]


class CodeName(_Answer):
    code: str
    name: str


class AreaLimitsView(_Answer):
    max_amount: str | None = Field(pattern=AMOUNT_PATTERN)
    max_guarantors: int
    max_documents: int


class AreaOptions(_Answer):
    """What an order of this area may carry, with display names (for the portal's form selects)."""

    area_code: str
    name: str
    platforms: list[CodeName]
    signature_methods: list[CodeName]
    limits: AreaLimitsView
    products: list[CodeName]
    document_types: list[CodeName]


class Problem(_Answer):
    """RFC 9457 problem document. `errors` names each field, parameter or header at fault."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class Health(_Answer):
    status: Literal["ok"]


MODELS: list[tuple[type[BaseModel], str]] = [
    (OrderRequest, "validation"),
    (SimulationRequest, "validation"),
    (Order, "serialization"),
    (OrderPage, "serialization"),
    (OrderHistory, "serialization"),
    (SimulationResult, "serialization"),
    (AreaOptions, "serialization"),
    (OrderResult, "serialization"),
    (Problem, "serialization"),
    (Health, "serialization"),
    (Insights, "serialization"),
]

# -- examples --------------------------------------------------------------------------------------

ORDER_EXAMPLE = {
    "order_key": "01KB2Q4V7Y3ZJ8M5N6P9R0S1T2",
    "status": "NO_QUORUM",
    "status_detail": "sem quórum",
    # The example request as AME keeps it: documents as digits.
    **order_request(
        requester={"person_type": "PJ", "document": "11222333000181"},
        guarantors=[{"person_type": "PF", "document": "52998224725"}],
    ),
    "created_by": "portal-bff",
    "created_at": "2026-11-29T10:00:00Z",
    "updated_at": "2026-11-29T10:00:02Z",
    "result": {"quorum_met": False, "parties": []},
    "links": {"self": "/v1/orders/01KB2Q4V7Y3ZJ8M5N6P9R0S1T2"},
}
AREA_OPTIONS_EXAMPLE = {
    "area_code": "CREDITO_PJ",
    "name": "Crédito PJ",
    "platforms": [{"code": "BANKLINE", "name": "Bankline"}],
    "signature_methods": [{"code": "DIGITAL", "name": "Assinatura digital (certificado)"}],
    "limits": {"max_amount": "5000000.00", "max_guarantors": 3, "max_documents": 10},
    "products": [{"code": "CCB_GIRO", "name": "CCB Capital de Giro"}],
    "document_types": [{"code": "CCB", "name": "Cédula de Crédito Bancário"}],
}
SIMULATION_EXAMPLE = {
    "area_code": "CREDITO_PJ",
    "company": "11.222.333/0001-81",
    "role": "REQUESTER",
    "amount": "250000.00",
    "date": "2026-11-29",
    "platform": "BANKLINE",
    "unavailable": ["529.982.247-25"],
}


def _problem_example(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None) -> dict:
    body: dict[str, Any] = {
        "type": f"https://ame.example/problems/{code.lower().replace('_', '-')}",
        "title": "…",
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


# Status -> when it is answered, and an example problem document's code and detail.
_ERROR_CASES: dict[int, tuple[str, str, str]] = {
    400: (
        "Corpo que não é JSON, ou que aninha mais de 32 níveis de listas/objetos, ou traz um número com mais de "
        "40 caracteres.",
        "MALFORMED_JSON",
        "o corpo não é JSON válido",
    ),
    401: (
        "Token ausente, malformado, expirado, de outro emissor ou assinado por outra chave.",
        "TOKEN_EXPIRED",
        "o token expirou",
    ),
    403: (
        "O token não tem o escopo da operação, ou a área não é do chamador.",
        "INSUFFICIENT_SCOPE",
        "o token não tem o escopo ame:orders:write",
    ),
    404: (
        "Ordem inexistente ou de uma área que o chamador não atende (indistinguíveis).",
        "ORDER_NOT_FOUND",
        "ordem não encontrada",
    ),
    409: (
        "Idempotency-Key já usada com outro corpo.",
        "IDEMPOTENCY_KEY_REUSED",
        "Idempotency-Key já usada com outro corpo de requisição",
    ),
    413: ("Corpo acima de 256 KiB.", "BODY_TOO_LARGE", "o corpo excede 256 KiB"),
    415: ("Corpo que não é application/json.", "UNSUPPORTED_MEDIA_TYPE", "envie o corpo como application/json"),
    422: (
        "Dados inválidos; `errors` nomeia cada campo ou parâmetro. Texto livre (`external_reference`, "
        "`documents[].title`) com caracteres de controle, bidirecionais, invisíveis ou palavras que misturam "
        "alfabetos: código INVALID_CHARACTERS; códigos (área, produto, poder...) fora de "
        "`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$`: INVALID_FORMAT.",
        "VALIDATION_FAILED",
        "a requisição tem campos inválidos",
    ),
    429: (
        "O chamador (client_id do token) excedeu sua taxa de requisições desta operação; nada foi feito. "
        "Tente após Retry-After (docs/security.md).",
        "RATE_LIMITED",
        "limite de requisições do chamador excedido; tente novamente em 1 s",
    ),
    500: ("Erro inesperado (sem detalhes internos).", "INTERNAL_ERROR", "erro interno inesperado"),
    503: (
        "Um parceiro, o emissor de tokens ou o banco de dados não respondeu; tente após Retry-After.",
        "DEPENDENCY_UNAVAILABLE",
        "parametrizador não respondeu; tente novamente",
    ),
}
# The field errors an example shows, where its status names fields.
_EXAMPLE_FIELD_ERRORS: dict[int, list[dict[str, str]]] = {
    401: [{"field": "Authorization", "code": "TOKEN_EXPIRED", "message": "o token expirou"}],
    422: [{"field": "requester.document", "code": "INVALID_DOCUMENT", "message": "dígitos verificadores inválidos"}],
}
ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    status: (description, _problem_example(status, code, detail, _EXAMPLE_FIELD_ERRORS.get(status)))
    for status, (description, code, detail) in _ERROR_CASES.items()
}

_REQUEST_ID = {
    "description": "O X-Request-Id recebido (se válido) ou um gerado; também em todas as linhas de log.",
    "required": True,
    "schema": {"type": "string"},
}
_RETRY_AFTER = {"description": "Segundos até tentar de novo.", "required": True, "schema": {"type": "string"}}


def _error(status: int) -> dict[str, Any]:
    description, example = ERRORS[status]
    headers = {"X-Request-Id": _REQUEST_ID}
    if status in (429, 503):
        headers["Retry-After"] = _RETRY_AFTER
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}, "example": example}},
    }


def _error_as(status: int, description: str, example: dict[str, Any]) -> dict[str, Any]:
    """`_error(status)` with a route's own description and example."""
    response = _error(status)
    response["description"] = description
    response["content"]["application/problem+json"]["example"] = example
    return response


def _ok(description: str, model: str, example: Any = None, extra_headers: dict | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF.format(model=model)}}
    if example is not None:
        media["example"] = example
    return {
        "description": description,
        "headers": {"X-Request-Id": _REQUEST_ID, **(extra_headers or {})},
        "content": {"application/json": media},
    }


def _public(operation_id: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An operation anyone may call (no token): health, readiness and the documentation."""
    operation = {"operationId": operation_id, "summary": summary, "tags": ["operação"], "security": [], **more}
    return {"get": {**operation, "responses": responses}}


def _served(description: str, schemas: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A 200 that serves a document or file, by media type."""
    content = {media: {"schema": schema} for media, schema in schemas.items()}
    return {"description": description, "headers": {"X-Request-Id": _REQUEST_ID}, "content": content}


def _responses(ok: dict[str, dict], errors: list[int]) -> dict[str, Any]:
    return {**ok, **{str(status): _error(status) for status in errors}}


_REQUEST_ID_PARAM = {
    "name": "X-Request-Id",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Identificador da requisição para correlação; gerado quando ausente ou inválido.",
}
_ORDER_KEY_PARAM = {
    "name": "order_key",
    "in": "path",
    "required": True,
    "description": "Chave da ordem.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "example": "01KB2Q4V7Y3ZJ8M5N6P9R0S1T2",
}
_IF_NONE_MATCH_PARAM = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "A `ETag` de uma resposta anterior: se a ordem ainda é essa, a resposta é 304 sem corpo.",
    "schema": {"type": "string"},
}
_PREFER_WAIT_PARAM = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": (
        "`wait=N` (RFC 7240), com `If-None-Match`: espera até N segundos (no máximo "
        f"{MAX_WAIT_SECONDS}) por uma mudança antes de responder. Outras preferências são ignoradas."
    ),
    "schema": {"type": "string"},
    "example": "wait=10",
}
_ORDER_READ_HEADERS = {
    "ETag": {"required": True, "schema": {"type": "string"}, "description": "Identifica esta representação."},
    "Preference-Applied": {
        "schema": {"type": "string"},
        "description": "`wait=N` quando a espera pedida em `Prefer` foi aplicada (N já limitado).",
    },
}
_IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Mesma chave e mesmo corpo devolvem a primeira resposta; outro corpo: 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$"},
}


def _query_parameters() -> list[dict[str, Any]]:
    schema = SearchQuery.model_json_schema(ref_template=REF)
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        variants = prop.pop("anyOf", None)
        if variants:  # Optional[X] -> X: an absent parameter is how "no filter" is said
            prop.update(next(v for v in variants if v.get("type") != "null"))
        params.append({"name": name, "in": "query", "required": False, "description": description, "schema": prop})
    return params


def _scoped(scope: str) -> list[dict[str, list[str]]]:
    # An http bearer scheme takes no scopes in OpenAPI; the scope is stated in each description.
    return [{"bearerAuth": []}]


def build_document() -> dict[str, Any]:
    _, top = models_json_schema(MODELS, ref_template=REF, schema_generator=_MoneyAsString)
    schemas = top["$defs"]
    if "OrderStatus" not in schemas:
        schemas["OrderStatus"] = {"type": "string", "enum": [s.value for s in OrderStatus]}
    schemas["OrderRequest"]["examples"] = [ORDER_REQUEST_EXAMPLE]
    schemas["SimulationRequest"]["examples"] = [SIMULATION_EXAMPLE]
    schemas["Order"]["examples"] = [ORDER_EXAMPLE]

    read = (
        "Escopo `ame:orders:read`. Só ordens das áreas do token (claim `areas`); "
        "a ordem de outra área responde 404, como uma inexistente."
    )
    paths: dict[str, Any] = {
        "/health": _public("health", "Vivo", {"200": _ok("A API responde.", "Health", {"status": "ok"})}),
        "/ready": _public(
            "ready",
            "Pronto para receber ordens (o banco de dados responde)",
            _responses({"200": _ok("Pronto.", "Health", {"status": "ok"})}, [503]),
        ),
        "/openapi.json": _public(
            "openapi", "Este documento", {"200": _served("OpenAPI 3.1", {"application/json": {"type": "object"}})}
        ),
        "/docs": _public(
            "docs",
            "Documentação para pessoas",
            {"200": _served("Página HTML que apresenta este documento", {"text/html": {"type": "string"}})},
        ),
        "/docs/{asset}": _public(
            "docsAsset",
            "Arquivos da página de documentação",
            {
                "200": _served(
                    "JavaScript ou CSS da página /docs (Swagger UI fixado)",
                    {"text/javascript": {"type": "string"}, "text/css": {"type": "string"}},
                ),
                "404": _error(404),
            },
            parameters=[
                {
                    "name": "asset",
                    "in": "path",
                    "required": True,
                    "description": "Nome do arquivo.",
                    "schema": {"type": "string", "enum": list(DOCS_ASSETS)},
                }
            ],
        ),
        "/v1/orders": {
            "post": {
                "operationId": "createOrder",
                "summary": "Cria uma ordem de assinatura",
                "tags": ["ordens"],
                "description": (
                    "Escopo `ame:orders:write`. `area_code` deve ser uma das áreas do token "
                    "(senão 403 AREA_NOT_ALLOWED, antes de qualquer consulta à área). "
                    "`created_by` registra o `client_id` do token."
                ),
                "security": _scoped("ame:orders:write"),
                "parameters": [_IDEMPOTENCY_PARAM, _REQUEST_ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": REF.format(model="OrderRequest")},
                            "example": ORDER_REQUEST_EXAMPLE,
                        }
                    },
                },
                "responses": _responses(
                    {
                        "202": _ok(
                            "Rascunho gravado; a ordem segue para processamento.",
                            "Order",
                            {**ORDER_EXAMPLE, "status": "RECEIVED", "status_detail": None, "result": None},
                            {
                                "Location": {"required": True, "schema": {"type": "string"}},
                                "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}},
                            },
                        )
                    },
                    [400, 401, 403, 409, 413, 415, 422, 429, 500, 503],
                ),
            },
            "get": {
                "operationId": "searchOrders",
                "summary": "Busca ordens (portal)",
                "tags": ["ordens"],
                "description": read + " Mais novas primeiro; paginação por cursor opaco e assinado.",
                "security": _scoped("ame:orders:read"),
                "parameters": [*_query_parameters_with_status(), _REQUEST_ID_PARAM],
                "responses": _responses({"200": _ok("Uma página de ordens.", "OrderPage")}, [401, 403, 422, 500, 503]),
            },
        },
        "/v1/orders/{order_key}": {
            "get": {
                "operationId": "getOrder",
                "summary": "Lê uma ordem",
                "tags": ["ordens"],
                "description": read
                + (
                    " Leitura condicional que pode esperar por uma mudança: com `If-None-Match` (a `ETag` da "
                    "última resposta) e `Prefer: wait=N`, a resposta vem assim que a ordem mudar (200) ou, "
                    f"sem mudança, 304 depois de N segundos (no máximo {MAX_WAIT_SECONDS}). O portal acompanha "
                    "a situação assim, em vez de ler a cada poucos milissegundos."
                ),
                "security": _scoped("ame:orders:read"),
                "parameters": [_ORDER_KEY_PARAM, _REQUEST_ID_PARAM, _IF_NONE_MATCH_PARAM, _PREFER_WAIT_PARAM],
                "responses": _responses(
                    {
                        "200": _ok("A ordem.", "Order", ORDER_EXAMPLE, _ORDER_READ_HEADERS),
                        "304": {
                            "description": (
                                "A ordem é a da `ETag` enviada (com `Prefer: wait`, nada mudou durante a espera). "
                                "Sem corpo."
                            ),
                            "headers": {"X-Request-Id": _REQUEST_ID, **_ORDER_READ_HEADERS},
                        },
                    },
                    [401, 403, 404, 500, 503],
                ),
            }
        },
        "/v1/orders/{order_key}/history": {
            "get": {
                "operationId": "getOrderHistory",
                "summary": "Linha do tempo da situação",
                "tags": ["ordens"],
                "description": read,
                "security": _scoped("ame:orders:read"),
                "parameters": [_ORDER_KEY_PARAM, _REQUEST_ID_PARAM],
                "responses": _responses(
                    {"200": _ok("Cada mudança de situação, na ordem em que ocorreu.", "OrderHistory")},
                    [401, 403, 404, 500, 503],
                ),
            }
        },
        "/v1/insights": {
            "get": {
                "operationId": "getInsights",
                "summary": "Painel: indicadores diários de uma área",
                "tags": ["painel"],
                "description": (
                    "Escopo `ame:orders:read`. Responde do roll-up diário mantido pela exportação "
                    "analítica (atualizado a cada hora; `refreshed_through` diz até quando), nunca do "
                    "Athena. Só as áreas do token (claim `areas`). Veja docs/analytics.md."
                ),
                "security": _scoped("ame:orders:read"),
                "parameters": [*insights_parameters(), _REQUEST_ID_PARAM],
                "responses": _responses(
                    {"200": _ok("Indicadores do período, dia a dia e somados.", "Insights", INSIGHTS_EXAMPLE)},
                    [401, 403, 422, 500, 503],
                ),
            }
        },
        "/v1/areas/{area_code}/options": {
            "get": {
                "operationId": "getAreaOptions",
                "summary": "Opções de formulário de uma área",
                "tags": ["áreas"],
                "description": (
                    "Escopo `ame:orders:read` ou `ame:orders:write`. Plataformas, formas de assinatura, "
                    "limites, produtos e tipos de documento ativos da área, com nomes de exibição; "
                    "consultas ao Parametrizador e ao Domínios em cache. Uma área fora das do token, "
                    "inexistente ou inativa responde 404."
                ),
                "security": _scoped("ame:orders:read"),
                "parameters": [
                    {
                        "name": "area_code",
                        "in": "path",
                        "required": True,
                        "description": "Código da área.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                        "example": "CREDITO_PJ",
                    },
                    _REQUEST_ID_PARAM,
                ],
                "responses": _responses(
                    {"200": _ok("As opções da área.", "AreaOptions", AREA_OPTIONS_EXAMPLE)}, [401, 403, 404, 500, 503]
                ),
            }
        },
        "/v1/quorum/simulations": {
            "post": {
                "operationId": "simulateQuorum",
                "summary": "E se? Avalia o quórum de uma empresa",
                "tags": ["quórum"],
                "description": (
                    "Escopo `ame:quorum:simulate`. `area_code` deve ser uma das áreas do token (senão 403 "
                    "AREA_NOT_ALLOWED, antes de qualquer consulta); o poder consultado no Poderes é o da área "
                    "no Parametrizador para o papel `role` (requisitante ou garantidor) — `power_code` no corpo "
                    "é recusado (422 POWER_CODE_FROM_AREA). Consulta Poderes, Pessoas e (com `platform`, quando "
                    "a área pede operator_check) o Cadastro Único agora, e devolve a avaliação completa do motor "
                    "de quórum, sem criar ordem. Toda simulação respondida é registrada (quem, quando, empresa, "
                    "área, veredito); sem registro não há resposta (503). CPFs vêm mascarados como nas "
                    "notificações (***.***.***-25), com os nomes; inteiros só com o escopo "
                    "`ame:personal-data:read`."
                ),
                "security": _scoped("ame:quorum:simulate"),
                "parameters": [_REQUEST_ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": REF.format(model="SimulationRequest")},
                            "example": SIMULATION_EXAMPLE,
                        }
                    },
                },
                "responses": {
                    **_responses(
                        {
                            "200": _ok(
                                "A avaliação do motor de quórum (com `Cache-Control: no-store`).",
                                "SimulationResult",
                                extra_headers={"Cache-Control": {"schema": {"type": "string"}}},
                            )
                        },
                        [400, 401, 403, 413, 415, 422, 429, 500, 503],
                    ),
                    "403": _error_as(
                        403,
                        "O token não tem o escopo ame:quorum:simulate, ou `area_code` não é uma das áreas do token.",
                        _problem_example(
                            403,
                            "AREA_NOT_ALLOWED",
                            "o chamador não atende a área CONSIGNADO",
                            [
                                {
                                    "field": "area_code",
                                    "code": "AREA_NOT_ALLOWED",
                                    "message": "área fora das áreas do token",
                                }
                            ],
                        ),
                    ),
                    "422": _error_as(
                        422,
                        "Dados inválidos; `errors` nomeia cada campo: `area_code` ausente (REQUIRED), inexistente "
                        "ou inativa no Parametrizador (AREA_NOT_FOUND, AREA_INACTIVE); `power_code` enviado "
                        "(POWER_CODE_FROM_AREA: o poder vem da área; use `role`); `platform` fora das plataformas "
                        "da área (PLATFORM_NOT_ALLOWED); CNPJ, CPFs, valor ou data inválidos.",
                        _problem_example(
                            422,
                            "VALIDATION_FAILED",
                            "a requisição tem campos inválidos",
                            [{"field": "area_code", "code": "REQUIRED", "message": "campo obrigatório"}],
                        ),
                    ),
                },
            }
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "AME — Assistente de Montagem de Envelope",
            "version": API_VERSION,
            "description": (
                "Ordens de assinatura: criação, consulta, busca e simulação de quórum. "
                "Todo erro é um problem document (RFC 9457). Tokens: RS256 (JWKS), claims "
                "`client_id`, `scope` e `areas`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "ordens"}, {"name": "áreas"}, {"name": "quórum"}, {"name": "painel"}, {"name": "operação"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "JWT RS256 do emissor configurado. Escopos na claim `scope` (texto, separados por espaço): "
                        "ame:orders:write, ame:orders:read, ame:quorum:simulate e ame:personal-data:read (CPFs "
                        "inteiros nas simulações). Áreas na claim `areas` (lista de códigos). `exp`, `iat` e `nbf` "
                        "são inteiros; `client_id` segue `^[a-z0-9][a-z0-9-]{2,63}$`."
                    ),
                }
            },
        },
    }


def _query_parameters_with_status() -> list[dict[str, Any]]:
    params = _query_parameters()
    for p in params:
        if p["name"] == "status":
            p["schema"] = {"$ref": REF.format(model="OrderStatus")}
    return params


@lru_cache(maxsize=1)
def document_json() -> str:
    return json.dumps(build_document(), ensure_ascii=False)


@lru_cache(maxsize=1)
def docs_html() -> str:
    return resources.files("chalicelib").joinpath("static/docs.html").read_text(encoding="utf-8")


# What /docs/{asset} serves from chalicelib/static/apidocs/: Swagger UI from the pinned npm package
# (apidocs/package.json, copied by `make apidocs`) and AME's own layout and contrast fixes.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "ame-docs.js": "text/javascript; charset=utf-8",
    "ame-docs.css": "text/css; charset=utf-8",
}


@lru_cache(maxsize=len(DOCS_ASSETS))
def docs_asset_text(name: str) -> str | None:
    if name not in DOCS_ASSETS:
        return None
    file = resources.files("chalicelib").joinpath("static/apidocs/" + name)
    return file.read_text(encoding="utf-8") if file.is_file() else None
