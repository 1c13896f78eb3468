"""GET /v1/insights: one area's daily roll-up over a range of days, checked and shaped (docs/analytics.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.analytics import DEFAULT_INSIGHTS_DAYS, MAX_INSIGHTS_DAYS, insights
from chalicelib.domain.errors import OrderValidationError
from chalicelib.domain.orders import FieldError
from chalicelib.services.analytics_export import WATERMARK


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    return values[-1].strip() if values and values[-1].strip() else None


class InsightsQueries:
    def __init__(self, store: Any, clock: Any) -> None:
        self._store = store
        self._clock = clock

    def parse(self, params: Mapping[str, Sequence[str]]) -> tuple[str, date, date]:
        errors: list[FieldError] = []
        area = _one(params, "area_code")
        if area is None:
            errors.append(FieldError(field="area_code", code="REQUIRED", message="informe a área (area_code)"))
        dates: dict[str, date | None] = {}
        for name in ("from", "to"):
            raw = _one(params, name)
            try:
                dates[name] = None if raw is None else date.fromisoformat(raw)
            except ValueError:
                dates[name] = None
                errors.append(
                    FieldError(field=name, code="INVALID_FORMAT", message="use uma data no formato AAAA-MM-DD")
                )
        last = dates.get("to") or self._clock.now().date()
        first = dates.get("from") or last - timedelta(days=DEFAULT_INSIGHTS_DAYS - 1)
        if not errors and first > last:
            errors.append(
                FieldError(field="from", code="INVALID_RANGE", message="'from' deve ser anterior ou igual a 'to'")
            )
        elif not errors and (last - first).days + 1 > MAX_INSIGHTS_DAYS:
            errors.append(
                FieldError(
                    field="from",
                    code="RANGE_TOO_LONG",
                    message=f"o período pode ter no máximo {MAX_INSIGHTS_DAYS} dias",
                )
            )
        if errors:
            raise OrderValidationError(errors)
        return area, first, last  # type: ignore[return-value]

    def answer(self, area_code: str, first: date, last: date) -> dict[str, Any]:
        days, groups, reasons = self._store.rollup_rows(area_code, first, last)
        return insights(area_code, first, last, days, groups, reasons, self._store.watermark(WATERMARK))
