"""`bin/ame simulations list`: the what-if audit (who simulated which company in which area, and the verdict).

Reads AME's database (AME_DATABASE_URL; the local stack's SQLite file by default) through the same adapter
the API writes with. Times are UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.services.ports import SimulationRecord

_RELATIVE = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
COLUMNS = (
    "simulated_at",
    "client_id",
    "subject",
    "area_code",
    "company",
    "role",
    "power_code",
    "amount",
    "quorum_met",
    "reason",
    "personal_data",
    "request_id",
)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d` (ago), or an ISO 8601 date or instant (without a zone: UTC). ValueError otherwise."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = relative.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def list_simulations(
    database_url: str,
    *,
    area_code: str | None = None,
    client_id: str | None = None,
    company: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[SimulationRecord]:
    from chalicelib.adapters.db.engine import create_engine_for
    from chalicelib.adapters.db.simulations import SqlSimulationJournal

    engine = create_engine_for(database_url)
    try:
        return SqlSimulationJournal(engine).recent(
            area_code=area_code, client_id=client_id, company=company, since=since, limit=limit
        )
    finally:
        engine.dispose()


def as_json(entry: SimulationRecord) -> dict[str, Any]:
    return {
        "simulated_at": entry.simulated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "client_id": entry.client_id,
        "subject": entry.subject,
        "area_code": entry.area_code,
        "company": entry.company,
        "role": entry.role,
        "power_code": entry.power_code,
        "amount": f"{entry.amount:.2f}",
        "evaluated_on": entry.evaluated_on.isoformat(),
        "platform": entry.platform,
        "operator_check": entry.operator_check,
        "unavailable_count": entry.unavailable_count,
        "quorum_met": entry.quorum_met,
        "reason": entry.reason,
        "personal_data": entry.personal_data,
        "request_id": entry.request_id,
    }
