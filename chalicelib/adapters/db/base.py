"""What every SQL store shares: stored times, stored JSON, one write transaction, and the status change."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.engine import SINGLE_READ_OPTION, WRITE_OPTION
from chalicelib.adapters.db.schema import order_status_history, orders, outbox
from chalicelib.domain.orders import OrderStatus
from chalicelib.observability import db_transaction
from chalicelib.services.ports import OutboxMessage

SYSTEM_ACTOR = "ame"
log = logging.getLogger(__name__)
# The order keys whose status the current write transaction changed (SqlStore._write announces them).
_status_changed: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("ame_status_changed", default=None)


def to_db_time(value: datetime) -> datetime:
    """Naive UTC, as stored. A naive input is refused: its zone is a guess we will not make."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def rows_of_order(conn: sa.Connection, table: sa.Table, order_key: str, *order_by: str) -> list[Any]:
    """Every row of `table` that belongs to the order, ordered by the named columns."""
    return list(conn.execute(_rows_of_order_statement(table, order_by), {"k_order_key": order_key}).all())


@functools.cache
def _rows_of_order_statement(table: sa.Table, order_by: tuple[str, ...]) -> sa.Select[Any]:
    """Built once per table and order: building a statement (and its cache key) costs more CPU than running
    it on SQLite, and every read of an order (each GET, each workflow task) runs these."""
    query = sa.select(table).where(table.c.order_key == sa.bindparam("k_order_key"))
    return query.order_by(*(table.c[name] for name in order_by))


def amount_or_none(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def outbox_row(message: OutboxMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "order_key": message.order_key,
        "queue": message.queue,
        "body": message.body,
        "created_at": to_db_time(message.created_at),
        "published_at": None if message.published_at is None else to_db_time(message.published_at),
        "attempts": message.attempts,
    }


class SqlStore:
    """The engine, the write transaction and the one way an order's status changes."""

    def __init__(
        self,
        engine: Engine,
        system_actor: str = SYSTEM_ACTOR,
        on_status_change: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        # On SQLite this makes the transaction BEGIN IMMEDIATE (see engine._sqlite_begin).
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        # Reads that need no snapshot (engine.SINGLE_READ_OPTION): one statement, or rows that never change.
        self._single_reads = engine.execution_options(**{SINGLE_READ_OPTION: True})
        self._system_actor = system_actor
        # Told each order key whose status a write transaction changed, once that transaction committed.
        self._on_status_change = on_status_change

    @contextmanager
    def _write(self, name: str) -> Iterator[sa.Connection]:
        """One write transaction, traced as a `db.<name>` subsegment when tracing is on."""
        changed: list[str] = []
        token = _status_changed.set(changed)
        try:
            with db_transaction(name), self._writer.begin() as conn:
                yield conn
        finally:
            _status_changed.reset(token)
        # Only after the commit: a reader woken now reads the new status, never a rolled-back one.
        for order_key in changed if self._on_status_change is not None else ():
            try:
                self._on_status_change(order_key)
            except Exception:  # telling waiters is best effort; the change itself is committed
                log.warning("could not announce the status change of %s", order_key, exc_info=True)

    def _change_status(
        self,
        conn: sa.Connection,
        order_key: str,
        when: Any,
        status: OrderStatus,
        detail: str | None,
        at: datetime,
        **values: Any,
    ) -> bool:
        """Compare-and-set: the order moves to `status` (with `detail` and any other `values`) only where
        `when` holds, and the move gets its history row, in the caller's transaction. False, and nothing
        written, when `when` does not hold (or there is no such order). `at` is already naive UTC."""
        changed = conn.execute(
            orders.update()
            .where(orders.c.order_key == order_key, when)
            .values(
                status=OrderStatus(status).value,
                status_detail=detail,
                version=orders.c.version + 1,
                updated_at=at,
                updated_by=self._system_actor,
                **values,
            )
        ).rowcount
        if changed != 1:
            return False
        pending = _status_changed.get()
        if pending is not None:
            pending.append(order_key)
        conn.execute(
            order_status_history.insert().values(
                order_key=order_key, status=OrderStatus(status).value, detail=detail, created_at=at
            )
        )
        return True

    @staticmethod
    def _insert_outbox(conn: sa.Connection, message: OutboxMessage, **overrides: Any) -> None:
        conn.execute(outbox.insert().values(**{**outbox_row(message), **overrides}))
