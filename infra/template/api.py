"""API Gateway edges: per-caller throttling and the gateway's own answers as problem documents."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.entrypoints.problems import problem_document
from infra.template.common import API_STAGE, ref, sub


def resources() -> dict[str, Any]:
    """Per-caller throttling (a usage plan: each product or BFF gets an API key attached to it) and the
    gateway's own 401/404 answers as problem documents, like every answer of AME's code."""

    def problem(status: int, code: str, detail: str) -> str:
        return json.dumps(problem_document(status, code, detail), ensure_ascii=False)

    def gateway_response(kind: str, status: int, code: str, detail: str) -> dict[str, Any]:
        return {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "RestApiId": ref("RestAPI"),
                "ResponseType": kind,
                "StatusCode": str(status),
                "ResponseParameters": {"gatewayresponse.header.Content-Type": "'application/problem+json'"},
                "ResponseTemplates": {"application/json": problem(status, code, detail)},
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
        "UnauthorizedProblem": gateway_response("UNAUTHORIZED", 401, "INVALID_TOKEN", "token ausente ou inválido"),
        "MissingTokenProblem": gateway_response(
            "MISSING_AUTHENTICATION_TOKEN", 404, "NOT_FOUND", "recurso não encontrado"
        ),
    }
