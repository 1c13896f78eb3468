"""API Gateway edges: the stage's throttling and the gateway's own answers as problem documents.

Per-caller throttling is not here: AME's own token bucket per `client_id` (chalicelib/adapters/rate_limit.py)
answers 429 before any partner call or write. A usage plan would need an API key per caller, a second
credential next to the token, which is what already names the caller (docs/security.md)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.entrypoints.problems import (
    MISSING_TOKEN_CHALLENGE,
    PROBLEM_JSON,
    allowed_methods,
    method_not_allowed_document,
    missing_token_document,
    route_not_found_document,
    stage_throttled_document,
)
from infra.template.common import API_NAME, ref, sub

# The routes that cost partner calls, writes and notifications: tighter stage limits than the rest.
WRITE_ROUTES = (("/v1/orders", "POST"), ("/v1/quorum/simulations", "POST"))


def method_path(path: str) -> str:
    """A MethodSetting's ResourcePath: the route's path with each "/" written "~1", after a leading "/"."""
    return "/" + path.replace("/", "~1")


def rest_api_properties(routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merged into Chalice's RestAPI (AWS::Serverless::Api): its name, tracing, and the stage's throttling
    (MethodSettings): every method under StageRateLimit/StageBurstLimit, the write routes each under
    WriteRateLimit/WriteBurstLimit. These count all callers together: they keep a burst that gets past the
    per-caller buckets (many callers at once, or Redis down and every instance deciding alone) from reaching
    the partners. The Swagger body adds the 405 answer for the methods a path lacks (`unsupported_methods`)."""
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
    return {
        "Name": sub(API_NAME),
        "TracingEnabled": True,
        "MethodSettings": [stage_wide, *writes],
        "DefinitionBody": unsupported_methods(routes),
    }


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def resources() -> dict[str, Any]:
    """The gateway's own 401/404/429 answers as problem documents, like every answer of AME's code (the
    local server gives the same ones: ame_local/gateway.py)."""

    def gateway_response(kind: str, document: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        parameters = {
            "gatewayresponse.header.Content-Type": f"'{PROBLEM_JSON}'",
            "gatewayresponse.header.X-Request-Id": "context.requestId",
            **{f"gatewayresponse.header.{name}": f"'{value}'" for name, value in (headers or {}).items()},
        }
        return {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "RestApiId": ref("RestAPI"),
                "ResponseType": kind,
                "StatusCode": str(document["status"]),
                "ResponseParameters": parameters,
                "ResponseTemplates": {"application/json": _json(document)},
            },
        }

    return {
        # No Authorization header on a route with the token authorizer: API Gateway answers before the
        # authorizer runs. (A bad token reaches the function, which names the defect: chalicelib/auth.py.)
        "UnauthorizedProblem": gateway_response(
            "UNAUTHORIZED", missing_token_document(), {"WWW-Authenticate": MISSING_TOKEN_CHALLENGE}
        ),
        # No resource with this path. (A known path with another method reaches the ANY method below.)
        "MissingTokenProblem": gateway_response("MISSING_AUTHENTICATION_TOKEN", route_not_found_document()),
        # The stage's MethodSettings refused the request: the same 429 the per-caller bucket answers.
        "ThrottledProblem": gateway_response(
            "THROTTLED",
            stage_throttled_document(),
            {"Retry-After": "1"},
        ),
    }


def unsupported_methods(routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merged into the REST API's Swagger body (Chalice's `DefinitionBody`): on every path, an ANY method
    whose mock integration answers 405 with `Allow` and the problem document. API Gateway prefers a
    path's own methods to ANY, so only the methods the path lacks land here; without it API Gateway would
    answer them like an unknown path (MISSING_AUTHENTICATION_TOKEN)."""
    document = _json(method_not_allowed_document())
    paths: dict[str, Any] = {}
    for path, views in routes.items():
        allow = ", ".join(allowed_methods(views))
        paths[path] = {
            "x-amazon-apigateway-any-method": {
                "produces": [PROBLEM_JSON],
                "responses": {
                    "405": {
                        "description": "método não suportado nesta rota",
                        "headers": {"Allow": {"type": "string"}, "Content-Type": {"type": "string"}},
                    }
                },
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "passthroughBehavior": "when_no_match",
                    "requestTemplates": {"application/json": '{"statusCode": 405}'},
                    "responses": {
                        "default": {
                            "statusCode": "405",
                            "responseParameters": {
                                "method.response.header.Allow": f"'{allow}'",
                                "method.response.header.Content-Type": f"'{PROBLEM_JSON}'",
                            },
                            "responseTemplates": {PROBLEM_JSON: document, "application/json": document},
                        }
                    },
                },
            }
        }
    return {"paths": paths}
