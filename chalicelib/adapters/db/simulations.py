"""SqlSimulationJournal: the what-if audit (table quorum_simulations), written per simulation, read by operators."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.base import amount_or_none, from_db_time, to_db_time
from chalicelib.adapters.db.engine import WRITE_OPTION
from chalicelib.adapters.db.schema import quorum_simulations
from chalicelib.observability import db_transaction
from chalicelib.services.ports import SimulationRecord

_s = quorum_simulations.c
_COLUMNS = [c for c in quorum_simulations.c if c.name != "id"]


def _row(entry: SimulationRecord) -> dict[str, Any]:
    row = {c.name: getattr(entry, c.name) for c in _COLUMNS}
    row["simulated_at"] = to_db_time(entry.simulated_at)
    return row


def _record(row: Any) -> SimulationRecord:
    values = dict(row._mapping)
    values["simulated_at"] = from_db_time(values["simulated_at"])
    values["amount"] = amount_or_none(values["amount"])
    on = values["evaluated_on"]
    values["evaluated_on"] = (
        on.date() if isinstance(on, datetime) else on if isinstance(on, date) else date.fromisoformat(str(on))
    )
    for flag in ("operator_check", "quorum_met", "personal_data"):
        values[flag] = bool(values[flag])
    return SimulationRecord(**values)


class SqlSimulationJournal:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    def record(self, entry: SimulationRecord) -> None:
        with db_transaction("record_simulation"), self._writer.begin() as conn:
            conn.execute(quorum_simulations.insert().values(**_row(entry)))

    def recent(
        self,
        *,
        area_code: str | None = None,
        client_id: str | None = None,
        company: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SimulationRecord]:
        query = sa.select(*_COLUMNS)
        if area_code is not None:
            query = query.where(_s.area_code == area_code)
        if client_id is not None:
            query = query.where(_s.client_id == client_id)
        if company is not None:
            query = query.where(_s.company == company)
        if since is not None:
            query = query.where(_s.simulated_at >= to_db_time(since))
        query = query.order_by(_s.simulated_at.desc(), _s.id.desc()).limit(max(1, limit))
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]
