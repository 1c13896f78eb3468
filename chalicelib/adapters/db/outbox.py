"""The outbox: messages written with the change that caused them, until the relay has sent them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chalicelib.adapters.db.base import SqlStore, from_db_time, to_db_time
from chalicelib.adapters.db.schema import outbox
from chalicelib.services.ports import CREATION_QUEUE, OutboxMessage


class SqlOutbox(SqlStore):
    """The OutboxStore port (chalicelib/services/ports.py)."""

    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]:
        query = (
            sa.select(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.created_at < to_db_time(created_before))
            .order_by(outbox.c.created_at, outbox.c.message_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [outbox_message(r) for r in rows]

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]:
        query = (
            sa.select(outbox)
            .where(outbox.c.order_key == order_key, outbox.c.published_at.is_(None))
            .order_by(outbox.c.created_at, outbox.c.message_id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [outbox_message(r) for r in rows]

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None:
        if not message_ids:
            return
        at = to_db_time(now)
        with self._write("mark_outbox_published") as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.message_id.in_(list(message_ids)), outbox.c.published_at.is_(None))
                .values(published_at=at, attempts=outbox.c.attempts + 1)
            )

    def mark_creation_delivered(self, order_key: str, now: datetime) -> None:
        with self._write("mark_creation_delivered") as conn:
            mark_creation_delivered(conn, order_key, to_db_time(now))


def mark_creation_delivered(conn: Any, order_key: str, at: Any) -> None:
    """Inside the caller's transaction: the order's creation message (any attempt) reached its consumer."""
    conn.execute(_CREATION_DELIVERED, {"k_order_key": order_key, "k_at": at})


# Built once (see base._rows_of_order_statement): it runs in every workflow's claim.
_CREATION_DELIVERED = (
    outbox.update()
    .where(
        outbox.c.order_key == sa.bindparam("k_order_key"),
        outbox.c.queue == CREATION_QUEUE,
        outbox.c.published_at.is_(None),
    )
    .values(published_at=sa.bindparam("k_at"), attempts=outbox.c.attempts + 1)
)


def outbox_message(r: Any) -> OutboxMessage:
    return OutboxMessage(
        message_id=r.message_id,
        order_key=r.order_key,
        queue=r.queue,
        body=r.body,
        created_at=from_db_time(r.created_at),
        published_at=from_db_time(r.published_at),
        attempts=r.attempts,
    )
