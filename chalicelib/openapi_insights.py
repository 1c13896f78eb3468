"""GET /v1/insights in the OpenAPI document: its answer models, parameters and example (docs/analytics.md).

chalicelib/domain/analytics.py builds the body; a unit test validates real answers against these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InsightsTotals(_Strict):
    orders: int = Field(ge=0)
    quorum_met: int = Field(ge=0)
    no_quorum: int = Field(ge=0)
    failed: int = Field(ge=0)
    in_progress: int = Field(ge=0, description="Recebidas ou em processamento ao fim do período exportado.")
    quorum_rate: float | None = Field(
        ge=0, le=1, description="quorum_met / (quorum_met + no_quorum); null sem decisões."
    )


class InsightsDay(_Strict):
    day: str = Field(description="Dia de criação (UTC), AAAA-MM-DD; todo dia do período aparece, mesmo sem ordens.")
    orders: int = Field(ge=0)
    quorum_met: int = Field(ge=0)
    no_quorum: int = Field(ge=0)
    failed: int = Field(ge=0)
    in_progress: int = Field(ge=0)
    verdict_ms_p50: int | None = Field(
        description="Mediana do tempo da entrada ao veredito (ms), aproximada por histograma."
    )
    verdict_ms_p95: int | None
    partner_calls: int = Field(ge=0)
    partner_errors: int = Field(ge=0)
    partner_latency_ms_avg: float | None


class QuorumRateGroup(_Strict):
    code: str
    orders: int = Field(ge=0)
    decided: int = Field(ge=0, description="Ordens com veredito de quórum (QUORUM_MET ou NO_QUORUM).")
    quorum_met: int = Field(ge=0)
    quorum_rate: float | None = Field(ge=0, le=1)


class QuorumRates(_Strict):
    by_platform: list[QuorumRateGroup]
    by_signature_method: list[QuorumRateGroup]
    by_product: list[QuorumRateGroup]


class NoQuorumReason(_Strict):
    reason: str = Field(description="Motivo da parte sem quórum (docs/contracts.md §2) ou TECHNICAL_FAILURE.")
    description: str = Field(description="Descrição em português.")
    parties: int = Field(ge=0)


class TimeToVerdict(_Strict):
    count: int = Field(ge=0)
    p50: int | None
    p95: int | None


class PartnerSummary(_Strict):
    calls: int = Field(ge=0)
    errors: int = Field(ge=0)
    error_rate: float | None = Field(ge=0, le=1)
    latency_ms_avg: float | None


class Insights(_Strict):
    """Indicadores diários de uma área, do roll-up mantido pela exportação analítica (não do Athena)."""

    area_code: str
    from_: str = Field(alias="from")
    to: str
    refreshed_through: str | None = Field(
        description="Até quando as mudanças de ordens já entraram no roll-up (UTC); null antes da primeira exportação."
    )
    totals: InsightsTotals
    days: list[InsightsDay]
    quorum_rate: QuorumRates
    no_quorum_reasons: list[NoQuorumReason] = Field(description="Do mais frequente ao menos.")
    time_to_verdict_ms: TimeToVerdict
    partners: PartnerSummary


INSIGHTS_EXAMPLE: dict[str, Any] = {
    "area_code": "CREDITO_PJ",
    "from": "2026-11-28",
    "to": "2026-11-29",
    "refreshed_through": "2026-11-29T10:00:00Z",
    "totals": {"orders": 3, "quorum_met": 2, "no_quorum": 1, "failed": 0, "in_progress": 0, "quorum_rate": 0.6667},
    "days": [
        {
            "day": "2026-11-28",
            "orders": 0,
            "quorum_met": 0,
            "no_quorum": 0,
            "failed": 0,
            "in_progress": 0,
            "verdict_ms_p50": None,
            "verdict_ms_p95": None,
            "partner_calls": 0,
            "partner_errors": 0,
            "partner_latency_ms_avg": None,
        },
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
