"""API Gateway edges: per-caller throttling and the gateway's own answers as problem documents."""

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
)
from infra.template.common import API_STAGE, ref, sub


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def resources() -> dict[str, Any]:
    """Per-caller throttling (a usage plan: each product or BFF gets an API key attached to it) and the
    gateway's own 401/404 answers as problem documents, like every answer of AME's code (the local
    server gives the same ones: ame_local/gateway.py)."""

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
        "CallerUsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "DependsOn": ["RestAPIapiStage"],
            "Properties": {
                "UsagePlanName": sub("ame-${Stage}-callers"),
                "Description": "Per-caller throttling: attach each caller's API key (AWS::ApiGateway::UsagePlanKey)",
                "ApiStages": [{"ApiId": ref("RestAPI"), "Stage": API_STAGE}],
                "Throttle": {"RateLimit": ref("CallerRateLimit"), "BurstLimit": ref("CallerBurstLimit")},
            },
        },
        # No Authorization header on a route with the token authorizer: API Gateway answers before the
        # authorizer runs. (A bad token reaches the function, which names the defect: chalicelib/auth.py.)
        "UnauthorizedProblem": gateway_response(
            "UNAUTHORIZED", missing_token_document(), {"WWW-Authenticate": MISSING_TOKEN_CHALLENGE}
        ),
        # No resource with this path. (A known path with another method reaches the ANY method below.)
        "MissingTokenProblem": gateway_response("MISSING_AUTHENTICATION_TOKEN", route_not_found_document()),
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
