"""The answer of GET /v1/insights (docs/analytics.md), written once: domain/analytics.py builds it from these
models' fields and the OpenAPI document (chalicelib/openapi_insights.py) is generated from them."""

from __future__ import annotations

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

    @classmethod
    def without_orders(cls, day: str) -> InsightsDay:
        """A day of the period on which no order was created: every count 0, every average and percentile null."""
        counts = {name: 0 if field.annotation is int else None for name, field in cls.model_fields.items()}
        return cls.model_validate({**counts, "day": day})


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
