"""API Gateway edges: the stage's throttling and the gateway's own answers as problem documents.

Per-caller throttling is not here: AME's own token bucket per `client_id` (chalicelib/adapters/rate_limit.py)
answers 429 before any partner call or write. A usage plan would need an API key per caller, a second
credential next to the token, which is what already names the caller (docs/security.md)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.entrypoints.problems import problem_document
from infra.template.common import API_NAME, ref, sub

# The routes that cost partner calls, writes and notifications: tighter stage limits than the rest.
WRITE_ROUTES = (("/v1/orders", "POST"), ("/v1/quorum/simulations", "POST"))


def method_path(path: str) -> str:
    """A MethodSetting's ResourcePath: the route's path with each "/" written "~1", after a leading "/"."""
    return "/" + path.replace("/", "~1")


def rest_api_properties() -> dict[str, Any]:
    """Merged into Chalice's RestAPI (AWS::Serverless::Api): its name, tracing, and the stage's throttling
    (MethodSettings): every method under StageRateLimit/StageBurstLimit, the write routes each under
    WriteRateLimit/WriteBurstLimit. These count all callers together: they keep a burst that gets past the
    per-caller buckets (many callers at once, or Redis down and every instance deciding alone) from reaching
    the partners."""
    stage_wide = {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": ref("StageRateLimit"),
        "ThrottlingBurstLimit": ref("StageBurstLimit"),
    }
    writes = [
        {
            "ResourcePath": method_path(path),
            "HttpMethod": method,
            "ThrottlingRateLimit": ref("WriteRateLimit"),
            "ThrottlingBurstLimit": ref("WriteBurstLimit"),
        }
        for path, method in WRITE_ROUTES
    ]
    return {"Name": sub(API_NAME), "TracingEnabled": True, "MethodSettings": [stage_wide, *writes]}


def resources() -> dict[str, Any]:
    """The gateway's own 401/404 answers as problem documents, like every answer of AME's code."""

    def problem(status: int, code: str, detail: str) -> str:
        return json.dumps(problem_document(status, code, detail), ensure_ascii=False)

    def gateway_response(
        kind: str, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        parameters = {"gatewayresponse.header.Content-Type": "'application/problem+json'"}
        parameters.update({f"gatewayresponse.header.{name}": f"'{value}'" for name, value in (headers or {}).items()})
        return {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "RestApiId": ref("RestAPI"),
                "ResponseType": kind,
                "StatusCode": str(status),
                "ResponseParameters": parameters,
                "ResponseTemplates": {"application/json": problem(status, code, detail)},
            },
        }

    return {
        "UnauthorizedProblem": gateway_response("UNAUTHORIZED", 401, "INVALID_TOKEN", "token ausente ou inválido"),
        "MissingTokenProblem": gateway_response(
            "MISSING_AUTHENTICATION_TOKEN", 404, "NOT_FOUND", "recurso não encontrado"
        ),
        # The stage's MethodSettings refused the request: the same 429 the per-caller bucket answers.
        "ThrottledProblem": gateway_response(
            "THROTTLED",
            429,
            "RATE_LIMITED",
            "limite de requisições da API excedido; tente novamente em instantes",
            {"Retry-After": "1"},
        ),
    }
