"""GET /v1/insights in the OpenAPI document: its answer models, parameters and example (docs/analytics.md).

The answer models are chalicelib/domain/insights.py (domain/analytics.py builds the body from them); a unit
test validates real answers against them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.insights import Insights, InsightsDay

__all__ = ["INSIGHTS_EXAMPLE", "Insights", "insights_parameters"]


INSIGHTS_EXAMPLE: dict[str, Any] = {
    "area_code": "CREDITO_PJ",
    "from": "2026-11-28",
    "to": "2026-11-29",
    "refreshed_through": "2026-11-29T10:00:00Z",
    "totals": {"orders": 3, "quorum_met": 2, "no_quorum": 1, "failed": 0, "in_progress": 0, "quorum_rate": 0.6667},
    "days": [
        InsightsDay.without_orders("2026-11-28").model_dump(),
        {
            "day": "2026-11-29",
            "orders": 3,
            "quorum_met": 2,
            "no_quorum": 1,
            "failed": 0,
            "in_progress": 0,
            "verdict_ms_p50": 1500,
            "verdict_ms_p95": 1950,
            "partner_calls": 9,
            "partner_errors": 1,
            "partner_latency_ms_avg": 120.5,
        },
    ],
    "quorum_rate": {
        "by_platform": [{"code": "BANKLINE", "orders": 3, "decided": 3, "quorum_met": 2, "quorum_rate": 0.6667}],
        "by_signature_method": [{"code": "DIGITAL", "orders": 3, "decided": 3, "quorum_met": 2, "quorum_rate": 0.6667}],
        "by_product": [{"code": "CCB_GIRO", "orders": 3, "decided": 3, "quorum_met": 2, "quorum_rate": 0.6667}],
    },
    "no_quorum_reasons": [
        {"reason": "NO_RULE_SATISFIED", "description": "Nenhum agrupamento pode ser atendido", "parties": 1}
    ],
    "time_to_verdict_ms": {"count": 3, "p50": 1500, "p95": 1950},
    "partners": {"calls": 9, "errors": 1, "error_rate": 0.1111, "latency_ms_avg": 120.5},
}


def insights_parameters() -> list[dict[str, Any]]:
    date = {"type": "string", "format": "date"}
    return [
        {
            "name": "area_code",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": "Área; deve ser uma das áreas do token (senão 403 AREA_NOT_ALLOWED).",
        },
        {
            "name": "from",
            "in": "query",
            "required": False,
            "schema": date,
            "description": "Primeiro dia (UTC, inclusive). Padrão: 29 dias antes de `to`.",
        },
        {
            "name": "to",
            "in": "query",
            "required": False,
            "schema": date,
            "description": "Último dia (UTC, inclusive). Padrão: hoje. No máximo 366 dias no período.",
        },
    ]
