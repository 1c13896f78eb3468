"""Try again later and the sweeper: parking an order, taking a stuck one back, and re-driving the due ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chalicelib.adapters.db.base import SqlStore, to_db_time
from chalicelib.adapters.db.schema import orders
from chalicelib.domain.orders import OrderStatus

_PROCESSING = orders.c.status == OrderStatus.PROCESSING.value
_PARKED = sa.and_(_PROCESSING, orders.c.processing_by.is_(None))


class SqlRedriveStore(SqlStore):
    """The RedriveStore port (chalicelib/services/ports.py)."""

    def park(
        self,
        order_key: str,
        execution_id: str,
        now: datetime,
        detail: str,
        next_attempt_at: datetime,
        parked_on: str | None = None,
    ) -> bool:
        """Try again later: the owning execution lets go of the order (PROCESSING, no owner) and
        records when the next attempt is due and which partner it waits for. One transaction with its
        history row."""
        owned = sa.and_(_PROCESSING, orders.c.processing_by == execution_id)
        first_failure = sa.func.coalesce(orders.c.first_failure_at, to_db_time(now))
        return self._let_go(
            "park", order_key, owned, now, detail, next_attempt_at, first_failure_at=first_failure, parked_on=parked_on
        )

    def release(self, order_key: str, owner: str | None, now: datetime, detail: str) -> bool:
        """The sweeper takes a stuck order back: from a dead execution (`owner`) or, with owner None,
        from RECEIVED whose creation message was lost. It becomes parked and due now."""
        if owner is None:
            stuck = orders.c.status == OrderStatus.RECEIVED.value
        else:
            stuck = sa.and_(_PROCESSING, orders.c.processing_by == owner)
        return self._let_go("release", order_key, stuck, now, detail, now, parked_on=None)

    def _let_go(
        self, operation: str, order_key: str, held: Any, now: datetime, detail: str, due: datetime, **values: Any
    ) -> bool:
        """Where `held` holds, the order is parked (PROCESSING, no owner), one more re-drive due at `due`."""
        at, next_attempt_at = to_db_time(now), to_db_time(due)
        with self._write(operation) as conn:
            parked = {
                "processing_by": None,
                "redrive_count": orders.c.redrive_count + 1,
                "next_attempt_at": next_attempt_at,
            }
            return self._change_status(
                conn, order_key, held, OrderStatus.PROCESSING, detail[:500], at, **parked, **values
            )

    def due_for_redrive(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        """Parked orders whose next attempt is due: (order_key, redrive_count), oldest due first."""
        query = (
            sa.select(orders.c.order_key, orders.c.redrive_count)
            .where(_PARKED, orders.c.next_attempt_at <= to_db_time(now))
            .order_by(orders.c.next_attempt_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r.order_key, r.redrive_count) for r in conn.execute(query)]

    def postpone(self, order_key: str, until: datetime) -> None:
        """A re-drive message is on its way: do not send another before `until`."""
        with self._write("postpone") as conn:
            conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, orders.c.processing_by.is_(None))
                .values(next_attempt_at=to_db_time(until))
            )

    def bump_redrive(self, order_key: str, now: datetime, next_attempt_at: datetime) -> int | None:
        """A parked order is re-driven under a new attempt number (a fresh execution name); returns it."""
        return self._redrive_now("bump_redrive", order_key, _PARKED, now, next_attempt_at)

    def parked_partners(self) -> list[str]:
        """The partners some parked order waits for, by name."""
        query = sa.select(orders.c.parked_on).where(orders.c.parked_on.is_not(None), _PARKED).distinct()
        with self._engine.connect() as conn:
            return sorted(r.parked_on for r in conn.execute(query))

    def parked_on(self, partner: str, limit: int) -> list[str]:
        """Order keys parked on `partner`, the soonest due first (ix_orders_parked_on)."""
        query = (
            sa.select(orders.c.order_key)
            .where(orders.c.parked_on == partner, _PARKED)
            .order_by(orders.c.next_attempt_at, orders.c.order_key)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [r.order_key for r in conn.execute(query)]

    def resume_parked(self, order_key: str, partner: str, now: datetime, next_attempt_at: datetime) -> int | None:
        """Compare-and-set: an order still parked on `partner` is re-driven now under a new attempt
        number and no longer counts as parked on it; returns the attempt (None: someone else resumed it,
        an execution claimed it, or it waits for another partner). `next_attempt_at` is the sweeper's
        fallback should the re-drive message be lost."""
        still_parked_on = sa.and_(orders.c.parked_on == partner, _PARKED)
        return self._redrive_now("resume_parked", order_key, still_parked_on, now, next_attempt_at, parked_on=None)

    def _redrive_now(
        self, operation: str, order_key: str, where: Any, now: datetime, next_attempt_at: datetime, **values: Any
    ) -> int | None:
        """Compare-and-set: where `where` still holds, the order gets one more attempt number (a fresh
        execution name) and the sweeper's fallback time; returns the attempt number, None when it no
        longer holds."""
        with self._write(operation) as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, where)
                .values(
                    redrive_count=orders.c.redrive_count + 1,
                    next_attempt_at=to_db_time(next_attempt_at),
                    updated_at=to_db_time(now),
                    updated_by=self._system_actor,
                    **values,
                )
            ).rowcount
            if changed != 1:
                return None
            count: int = conn.execute(
                sa.select(orders.c.redrive_count).where(orders.c.order_key == order_key)
            ).scalar_one()
            return count

    def stale_orders(self, status: OrderStatus, updated_before: datetime, limit: int) -> list[tuple[str, str | None]]:
        """(order_key, processing_by) of orders in `status` untouched since `updated_before`."""
        query = (
            sa.select(orders.c.order_key, orders.c.processing_by)
            .where(orders.c.status == OrderStatus(status).value, orders.c.updated_at < to_db_time(updated_before))
            .order_by(orders.c.updated_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r.order_key, r.processing_by) for r in conn.execute(query)]
