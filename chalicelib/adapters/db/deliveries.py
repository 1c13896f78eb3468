"""SqlDeliveryRepository: per order and channel, whether the result was delivered, when, in how many attempts."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from chalicelib.adapters.db.engine import WRITE_OPTION
from chalicelib.adapters.db.repository import from_db_time, to_db_time
from chalicelib.adapters.db.schema import order_deliveries, order_status_history, orders
from chalicelib.services.delivery import Claim, ClaimState

PENDING = "PENDING"
DELIVERED = "DELIVERED"
FAILED = "FAILED"

_d = order_deliveries.c
# Built once: composing SQLAlchemy statements per call cost more CPU than running them, and the
# deliveries of one batch share the GIL.
_KEY = sa.and_(_d.order_key == sa.bindparam("k"), _d.channel == sa.bindparam("ch"))
_READ = sa.select(_d.status, _d.attempts, _d.lease_until).where(_KEY)
_TAKE = (order_deliveries.update()
         .where(_KEY, _d.status != DELIVERED, sa.or_(_d.lease_until.is_(None), _d.lease_until <= sa.bindparam("at")))
         .values(attempts=_d.attempts + 1, lease_until=sa.bindparam("until"), last_attempt_at=sa.bindparam("at"),
                 first_attempt_at=sa.func.coalesce(_d.first_attempt_at, sa.bindparam("at"))))
_SUCCEED = (order_deliveries.update().where(_KEY, _d.status != DELIVERED)
            .values(status=DELIVERED, delivered_at=sa.bindparam("at"), lease_until=None, last_error=None,
                    message_id=sa.func.coalesce(sa.bindparam("mid", type_=sa.String()), _d.message_id)))
_RELEASE = (order_deliveries.update().where(_KEY, _d.status != DELIVERED)
            .values(lease_until=None, last_error=sa.bindparam("err")))
_ORDER = sa.select(orders.c.status, orders.c.area_code, orders.c.area_snapshot).where(
    orders.c.order_key == sa.bindparam("k"))


class SqlDeliveryRepository:
    """The DeliveryStore port (chalicelib/services/delivery.py) over SQLAlchemy Core. Every write is one explicit transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        # SQLite has one writer at a time and its busy handler sleeps in steps of up to 100 ms; threads of
        # one process queue on a lock instead (a batch's deliveries write at once). MySQL locks rows.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    def order_context(self, order_key: str) -> dict[str, Any] | None:
        """What delivery needs of the order (status, area code, area snapshot), in one query."""
        with self._engine.connect() as conn:
            row = conn.execute(_ORDER, {"k": order_key}).first()
        if row is None:
            return None
        return {"order_key": order_key, "status": row.status, "area_code": row.area_code,
                "area_snapshot": json.loads(row.area_snapshot) if row.area_snapshot else {}}

    def claim(self, order_key: str, channel: str, *, kind: str, target: str | None, now: datetime,
              lease_seconds: float) -> Claim:
        """Take the channel's lease and count one attempt, unless it was delivered or is leased."""
        at = to_db_time(now)
        until = at + timedelta(seconds=lease_seconds)
        key = {"k": order_key, "ch": channel}
        try:
            # The first attempt (the common case) inserts the row already claimed: one statement.
            with self._write() as conn:
                conn.execute(order_deliveries.insert(), {
                    "order_key": order_key, "channel": channel, "kind": kind,
                    "target": target[:500] if target else None, "status": PENDING, "attempts": 1,
                    "lease_until": until, "first_attempt_at": at, "last_attempt_at": at})
            return Claim(ClaimState.CLAIMED, 1, from_db_time(until))
        except IntegrityError:
            pass  # attempted before, or a concurrent copy inserted it first: the lease decides
        with self._write() as conn:
            row = conn.execute(_READ, key).one()
            if row.status != DELIVERED and conn.execute(_TAKE, {**key, "at": at, "until": until}).rowcount == 1:
                return Claim(ClaimState.CLAIMED, row.attempts + 1, from_db_time(until))
        if row.status == DELIVERED:
            return Claim(ClaimState.DELIVERED, row.attempts)
        return Claim(ClaimState.BUSY, row.attempts, from_db_time(row.lease_until))


    def succeed(self, order_key: str, channel: str, now: datetime, message_id: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(_SUCCEED, {"k": order_key, "ch": channel, "at": to_db_time(now),
                                    "mid": message_id[:128] if message_id else None})

    def release(self, order_key: str, channel: str, error: str) -> None:
        """The attempt failed: drop the lease so the next delivery of the event may try again."""
        with self._write() as conn:
            conn.execute(_RELEASE, {"k": order_key, "ch": channel, "err": error[:500]})

    def give_up(self, order_key: str, channel: str, now: datetime, error: str, history_detail: str) -> bool:
        """The last attempt failed: FAILED, and one history row on the order, in one transaction.
        False (nothing written) when the channel was delivered or already given up."""
        at = to_db_time(now)
        with self._write() as conn:
            changed = conn.execute(
                order_deliveries.update()
                .where(order_deliveries.c.order_key == order_key, order_deliveries.c.channel == channel,
                       order_deliveries.c.status == PENDING)
                .values(status=FAILED, lease_until=None, last_error=error[:500])
            ).rowcount
            if changed != 1:
                return False
            # The history keeps status changes; a failed delivery is logged under the order's current status.
            status = conn.execute(sa.select(orders.c.status).where(orders.c.order_key == order_key)).scalar_one()
            conn.execute(order_status_history.insert().values(
                order_key=order_key, status=status, detail=history_detail[:500], created_at=at))
        return True

    def for_order(self, order_key: str) -> list[dict[str, Any]]:
        query = (sa.select(order_deliveries).where(order_deliveries.c.order_key == order_key)
                 .order_by(order_deliveries.c.kind, order_deliveries.c.channel))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{
            "channel": r.channel,
            "kind": r.kind,
            "target": r.target,
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "message_id": r.message_id,
            "first_attempt_at": from_db_time(r.first_attempt_at),
            "last_attempt_at": from_db_time(r.last_attempt_at),
            "delivered_at": from_db_time(r.delivered_at),
        } for r in rows]
