"""The parked backlog the operations report turns into gauges: a count and the oldest first failure."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chalicelib.adapters.db.base import SqlStore, from_db_time
from chalicelib.adapters.db.schema import orders
from chalicelib.domain.orders import OrderStatus


class SqlParkedBacklog(SqlStore):
    """The ParkedBacklogReader port (chalicelib/services/ports.py): one aggregate query, no writes."""

    def parked_backlog(self) -> tuple[int, datetime | None]:
        # Parked = PROCESSING with no owning execution and a next attempt planned (redrive_store.park).
        parked = sa.and_(
            orders.c.status == OrderStatus.PROCESSING.value,
            orders.c.processing_by.is_(None),
            orders.c.next_attempt_at.is_not(None),
        )
        query = sa.select(
            sa.func.count(),
            sa.func.min(sa.func.coalesce(orders.c.first_failure_at, orders.c.updated_at)),
        ).where(parked)
        with self._engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count or 0), from_db_time(oldest)
