"""SqlDeliveryRepository: per order and channel, whether the result was delivered, when, in how many attempts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from chalicelib.adapters.db.base import from_db_time, rows_of_order, to_db_time
from chalicelib.adapters.db.engine import SINGLE_READ_OPTION, WRITE_OPTION
from chalicelib.adapters.db.schema import notification_recipients, order_deliveries, order_status_history, orders
from chalicelib.services.delivery import (
    NOTIFICATION,
    Claim,
    ClaimRequest,
    ClaimState,
    NotificationCap,
    Settlement,
    suppression_note,
)

PENDING = "PENDING"
DELIVERED = "DELIVERED"
FAILED = "FAILED"
SUPPRESSED = "SUPPRESSED"  # a notification over its recipient's cap: recorded, never sent (final)

_d = order_deliveries.c
# Built once: composing SQLAlchemy statements per call cost more CPU than running them, and the
# deliveries of one batch share the GIL.
_KEY = sa.and_(_d.order_key == sa.bindparam("k"), _d.channel == sa.bindparam("ch"))
# Notifications a recipient got per channel within the window (ix_order_deliveries_channel_first): those
# sent or on their way; suppressed ones and given-up ones reached nobody. Read after _lock_recipients.
_RECENT_PER_CHANNEL = (
    sa.select(_d.channel, sa.func.count())
    .where(
        _d.channel.in_(sa.bindparam("channels", expanding=True)),
        _d.kind == NOTIFICATION,
        _d.status.in_([PENDING, DELIVERED]),
        _d.first_attempt_at >= sa.bindparam("since"),
    )
    .group_by(_d.channel)
)
_LOCK_RECIPIENTS = (
    sa.select(notification_recipients.c.channel)
    .where(notification_recipients.c.channel.in_(sa.bindparam("channels", expanding=True)))
    .order_by(notification_recipients.c.channel)
    .with_for_update()
)
_READ_ORDERS = sa.select(_d.order_key, _d.channel, _d.status, _d.attempts, _d.lease_until).where(
    _d.order_key.in_(sa.bindparam("keys", expanding=True))
)
_TAKE = (
    order_deliveries.update()
    .where(_KEY, _d.status != DELIVERED, sa.or_(_d.lease_until.is_(None), _d.lease_until <= sa.bindparam("at")))
    .values(
        attempts=_d.attempts + 1,
        lease_until=sa.bindparam("until"),
        last_attempt_at=sa.bindparam("at"),
        first_attempt_at=sa.func.coalesce(_d.first_attempt_at, sa.bindparam("at")),
    )
)
_SUCCEED = (
    order_deliveries.update()
    .where(_KEY, _d.status != DELIVERED)
    .values(
        status=DELIVERED,
        delivered_at=sa.bindparam("at"),
        lease_until=None,
        last_error=None,
        message_id=sa.func.coalesce(sa.bindparam("mid", type_=sa.String()), _d.message_id),
    )
)
_RELEASE = (
    order_deliveries.update()
    .where(_KEY, _d.status != DELIVERED)
    .values(lease_until=None, last_error=sa.bindparam("err"))
)
_GIVE_UP = (
    order_deliveries.update()
    .where(_KEY, _d.status == PENDING)
    .values(status=FAILED, lease_until=None, last_error=sa.bindparam("err"))
)
_ORDERS = sa.select(orders.c.order_key, orders.c.status, orders.c.area_code, orders.c.area_snapshot).where(
    orders.c.order_key.in_(sa.bindparam("keys", expanding=True))
)
_ORDER_STATUS = sa.select(orders.c.status).where(orders.c.order_key == sa.bindparam("k"))
# A copy of the batch inserting the same channel between our read and our insert (MySQL), or two batches
# counting the same recipient's notifications (MySQL deadlock, one rolled back): read again.
CLAIM_TRIES = 3
MYSQL_DEADLOCK = 1213


def _deadlock(exc: OperationalError) -> bool:
    return bool(getattr(exc.orig, "args", None)) and exc.orig.args[0] == MYSQL_DEADLOCK


def _lock_recipients(conn: Connection, channels: list[str]) -> None:
    """Take the recipients' rows (created on first use) for the rest of the transaction, in channel order:
    on MySQL, under READ COMMITTED (no gap locks), a locked row is what makes two batches notifying the
    same person count one after the other; SQLite's writer gate serializes claims anyway."""
    rows = [{"channel": channel} for channel in channels]
    if conn.dialect.name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        upsert = mysql_insert(notification_recipients)
        conn.execute(upsert.on_duplicate_key_update(channel=upsert.inserted.channel), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(notification_recipients).on_conflict_do_nothing(), rows)
    conn.execute(_LOCK_RECIPIENTS, {"channels": channels})


def _over(cap: NotificationCap, request: ClaimRequest, sent: dict[str, int]) -> bool:
    """A notification whose recipient already got `cap.limit` of this channel (within the window)."""
    return request.kind == NOTIFICATION and sent.get(request.channel, 0) >= cap.limit


def _fresh_row(
    request: ClaimRequest, at: datetime, until: datetime | None, status: str, note: str | None
) -> dict[str, Any]:
    """A channel's first row: claimed (PENDING, leased until `until`, one attempt) or SUPPRESSED (no attempt,
    `note` says why). Every row of one INSERT has the same columns."""
    claimed = status == PENDING
    return {
        "order_key": request.order_key,
        "channel": request.channel,
        "kind": request.kind,
        "target": request.target[:500] if request.target else None,
        "status": status,
        "attempts": 1 if claimed else 0,
        "lease_until": until,
        "last_error": note,
        "first_attempt_at": at,
        "last_attempt_at": at if claimed else None,
    }


class _Ticket:
    """One settlement waiting to be recorded, by its own caller or with another one's group."""

    __slots__ = ("done", "error", "settlement")

    def __init__(self, settlement: Settlement) -> None:
        self.settlement = settlement
        self.done = False
        self.error: BaseException | None = None


class SqlDeliveryRepository:
    """The DeliveryStore port (chalicelib/services/delivery.py) over SQLAlchemy Core. Every write is one explicit transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Write transactions: on SQLite the engine's writer gate queues this process's writers on a lock
        # (engine.py); MySQL locks rows.
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._single_reads = engine.execution_options(**{SINGLE_READ_OPTION: True})  # one statement each
        self._settling = threading.Condition()
        self._queued: list[_Ticket] = []
        self._recording = False

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn

    def order_contexts(self, order_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What delivery needs of each order (status, area code, area snapshot), in one query."""
        if not order_keys:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(_ORDERS, {"keys": list(order_keys)}).all()
        return {
            row.order_key: {
                "order_key": row.order_key,
                "status": row.status,
                "area_code": row.area_code,
                "area_snapshot": json.loads(row.area_snapshot) if row.area_snapshot else {},
            }
            for row in rows
        }

    def claim_many(
        self,
        requests: Sequence[ClaimRequest],
        now: datetime,
        lease_seconds: float,
        cap: NotificationCap | None = None,
    ) -> list[Claim]:
        """Take each channel's lease and count one attempt, unless it was delivered or is leased (by
        another copy, or by an earlier request of this batch: the same event twice in one batch); with a
        `cap`, a notification never attempted whose recipient is at the cap is inserted SUPPRESSED.

        One transaction: a read of the orders' channels, one INSERT of the channels never attempted
        (already claimed) and a conditional UPDATE per channel attempted before. Rows are written in
        (order_key, channel) order, so two batches sharing channels take their locks in the same order."""
        if not requests:
            return []
        at = to_db_time(now)
        until = at + timedelta(seconds=lease_seconds)
        for tries_left in range(CLAIM_TRIES - 1, -1, -1):
            try:
                with self._write() as conn:
                    return self._claim_in(conn, requests, at, until, cap)
            except IntegrityError:
                if not tries_left:
                    raise
            except OperationalError as exc:
                if not tries_left or not _deadlock(exc):
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _claim_in(
        conn: Connection,
        requests: Sequence[ClaimRequest],
        at: datetime,
        until: datetime,
        cap: NotificationCap | None,
    ) -> list[Claim]:
        rows = {
            (r.order_key, r.channel): r
            for r in conn.execute(_READ_ORDERS, {"keys": sorted({q.order_key for q in requests})})
        }
        # Per notification channel (one recipient, one medium), how many it got within the cap's window.
        sent: dict[str, int] = {}
        if cap is not None:
            channels = sorted(
                {q.channel for q in requests if q.kind == NOTIFICATION and (q.order_key, q.channel) not in rows}
            )
            if channels:
                _lock_recipients(conn, channels)
                since = at - timedelta(seconds=cap.window_seconds)
                sent = dict(conn.execute(_RECENT_PER_CHANNEL, {"channels": channels, "since": since}).tuples().all())
        claims: list[Claim | None] = [None] * len(requests)
        fresh: list[dict[str, Any]] = []
        taken: set[tuple[str, str]] = set()
        for i in sorted(range(len(requests)), key=lambda i: (requests[i].order_key, requests[i].channel)):
            request = requests[i]
            key = (request.order_key, request.channel)
            row = rows.get(key)
            if key in taken:  # the same channel twice in one batch: the first holds the lease
                claims[i] = Claim(ClaimState.BUSY, 1 if row is None else row.attempts + 1, from_db_time(until))
            elif row is None and cap is not None and _over(cap, request, sent):
                fresh.append(_fresh_row(request, at, None, SUPPRESSED, suppression_note(cap)))
                claims[i] = Claim(ClaimState.SUPPRESSED, 0)
                taken.add(key)  # the same channel again in this batch waits, then finds it suppressed
            elif row is None:
                sent[request.channel] = sent.get(request.channel, 0) + 1
                fresh.append(_fresh_row(request, at, until, PENDING, None))
                claims[i] = Claim(ClaimState.CLAIMED, 1, from_db_time(until))
            elif row.status == DELIVERED:
                claims[i] = Claim(ClaimState.DELIVERED, row.attempts)
            elif row.status == SUPPRESSED:
                claims[i] = Claim(ClaimState.SUPPRESSED, row.attempts)
            elif (
                conn.execute(_TAKE, {"k": request.order_key, "ch": request.channel, "at": at, "until": until}).rowcount
                == 1
            ):
                claims[i] = Claim(ClaimState.CLAIMED, row.attempts + 1, from_db_time(until))
            else:
                claims[i] = Claim(ClaimState.BUSY, row.attempts, from_db_time(row.lease_until))
            if claims[i].state == ClaimState.CLAIMED:
                taken.add(key)
        if fresh:
            conn.execute(order_deliveries.insert(), fresh)
        return claims  # type: ignore[return-value]

    def settle(self, settlement: Settlement) -> None:
        """An attempt's end: DELIVERED; or the lease dropped so the next delivery of the event may try
        again; or, on the last attempt, FAILED and one history row on the order (nothing when the
        channel was delivered, or given up already).

        Returns once it is committed. Attempts of a batch that end while another one is being recorded
        are recorded together in the next transaction (group commit): one round of locks, statements
        and commit for all, instead of each waiting for the write lock behind the others."""
        ticket = _Ticket(settlement)
        with self._settling:
            self._queued.append(ticket)
            while self._recording and not ticket.done:
                self._settling.wait()
            if not ticket.done:
                self._recording = True
                group, self._queued = self._queued, []
        if not ticket.done:
            self._record(group)
        if ticket.error is not None:
            raise ticket.error

    def _record(self, group: list[_Ticket]) -> None:
        try:
            with self._write() as conn:
                self._settle_in(conn, [t.settlement for t in group])
        except BaseException as exc:
            for t in group:
                t.error = exc
        finally:
            with self._settling:
                for t in group:
                    t.done = True
                self._recording = False
                self._settling.notify_all()

    @staticmethod
    def _settle_in(conn: Connection, settlements: list[Settlement]) -> None:
        delivered = [
            {
                "k": s.order_key,
                "ch": s.channel,
                "at": to_db_time(s.at),
                "mid": s.message_id[:128] if s.message_id else None,
            }
            for s in settlements
            if s.delivered
        ]
        released = [
            {"k": s.order_key, "ch": s.channel, "err": (s.error or "")[:500]}
            for s in settlements
            if not s.delivered and s.history_detail is None
        ]
        if delivered:  # one executemany each: the statement's cost is paid once for the group
            conn.execute(_SUCCEED, delivered)
        if released:
            conn.execute(_RELEASE, released)
        for s in settlements:
            if s.delivered or s.history_detail is None:
                continue
            if conn.execute(_GIVE_UP, {"k": s.order_key, "ch": s.channel, "err": (s.error or "")[:500]}).rowcount != 1:
                continue  # delivered, or given up already: no second history row
            # The history keeps status changes; a failed delivery is logged under the order's current status.
            status = conn.execute(_ORDER_STATUS, {"k": s.order_key}).scalar_one()
            conn.execute(
                order_status_history.insert().values(
                    order_key=s.order_key,
                    status=status,
                    detail=(s.history_detail or "")[:500],
                    created_at=to_db_time(s.at),
                )
            )

    def for_order(self, order_key: str) -> list[dict[str, Any]]:
        with self._single_reads.connect() as conn:
            rows = rows_of_order(conn, order_deliveries, order_key, "kind", "channel")
        return [
            {
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
            }
            for r in rows
        ]
