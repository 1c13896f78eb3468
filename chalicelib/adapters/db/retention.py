"""SqlRetentionStore: the purge job's reads and writes (docs/data-lifecycle.md), SQLAlchemy Core on SQLite and MySQL.

Every predicate walks an index: idempotency keys by `created_at` (ix_idempotency_keys_created_at), published
outbox rows by `published_at` (ix_outbox_published_created), orders by `updated_at` (ix_orders_updated_at)
for the after-verdict rules and by `created_at` (ix_orders_created_at) for the archive, and every child
table by its primary key or `order_key` index. A batch reads at most `limit` candidates in index order from
a position (keyset), so rows the job must leave (an order still in flight) are stepped over, not re-read.
Each write transaction holds at most the rows the caller grouped (≤ AME_RETENTION_BATCH_ROWS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.base import from_db_time, to_db_time
from chalicelib.adapters.db.engine import WRITE_OPTION
from chalicelib.adapters.db.schema import (
    analytics_watermarks,
    idempotency_keys,
    job_leases,
    order_deliveries,
    order_documents,
    order_participants,
    order_parties,
    order_partner_calls,
    order_rules,
    order_status_history,
    orders,
    outbox,
    party_artifacts,
    retention_archived_orders,
    retention_archives,
    retention_cursors,
)
from chalicelib.domain.retention import TERMINAL, Rule
from chalicelib.services.ports import ArchivePart, Batch, CandidateOrder

EXPORT_WATERMARK = "export_analytics"

# An archived order's rows, child tables first (the order row is deleted last, after its children).
ORDER_CHILDREN: tuple[tuple[str, sa.Table], ...] = (
    ("parties", order_parties),
    ("participants", order_participants),
    ("rules", order_rules),
    ("documents", order_documents),
    ("history", order_status_history),
    ("partner_calls", order_partner_calls),
    ("deliveries", order_deliveries),
    ("artifacts", party_artifacts),
    ("outbox", outbox),
    ("idempotency_keys", idempotency_keys),
)
# Delete order: rows that reference order_parties go before them.
_DELETE_ORDER = (
    "participants",
    "rules",
    "parties",
    "documents",
    "history",
    "partner_calls",
    "deliveries",
    "artifacts",
    "outbox",
    "idempotency_keys",
)
_CHILD = dict(ORDER_CHILDREN)

_AFTER_VERDICT_TABLE = {
    Rule.PARTY_ARTIFACTS: party_artifacts,
    Rule.PARTICIPANT_CONTACTS: order_participants,
    Rule.DELIVERIES: order_deliveries,
}


def _naive(value: datetime) -> datetime:
    return to_db_time(value)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return from_db_time(value)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat() if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _after(columns: Sequence[sa.ColumnElement[Any]], position: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Keyset: (c1, c2, …) > (p1, p2, …), spelled out so that MySQL uses the index range."""
    terms = []
    for i, column in enumerate(columns):
        equal = [columns[j] == position[j] for j in range(i)]
        terms.append(sa.and_(*equal, column > position[i]))
    return sa.or_(*terms)


class SqlRetentionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # On SQLite this makes the transaction BEGIN IMMEDIATE (one writer at a time).
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    # -- lease --------------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """True when `holder` now holds the lease (it was free, expired or already its own)."""
        with self._writer.begin() as conn:
            taken = conn.execute(
                job_leases.update()
                .where(
                    job_leases.c.name == name,
                    sa.or_(
                        job_leases.c.holder.is_(None),
                        job_leases.c.lease_until <= _naive(now),
                        job_leases.c.holder == holder,
                    ),
                )
                .values(holder=holder, lease_until=_naive(until))
            ).rowcount
            if taken == 1:
                return True
            exists = conn.execute(sa.select(job_leases.c.name).where(job_leases.c.name == name)).first()
            if exists is not None:
                return False
        try:
            with self._writer.begin() as conn:
                conn.execute(job_leases.insert().values(name=name, holder=holder, lease_until=_naive(until)))
            return True
        except sa.exc.IntegrityError:  # another run inserted it first: it holds the lease
            return False

    def release_lease(self, name: str, holder: str, now: datetime) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                job_leases.update()
                .where(job_leases.c.name == name, job_leases.c.holder == holder)
                .values(holder=None, lease_until=_naive(now))
            )

    # -- the analytics export's watermark ------------------------------------------------------------------

    def exported_until(self) -> datetime | None:
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(analytics_watermarks.c.high_water).where(analytics_watermarks.c.name == EXPORT_WATERMARK)
            ).scalar()
        return _aware(value)

    # -- rows with their own time: idempotency keys, published outbox rows ------------------------------------

    def _own_time(self, rule: Rule) -> tuple[sa.Table, list[sa.ColumnElement[Any]], sa.ColumnElement[Any]]:
        if rule is Rule.IDEMPOTENCY_KEYS:
            k = idempotency_keys
            return k, [k.c.created_at, k.c.caller, k.c.idempotency_key], k.c.created_at
        if rule is Rule.PUBLISHED_OUTBOX:
            o = outbox
            return o, [o.c.published_at, o.c.created_at, o.c.message_id], o.c.published_at
        raise ValueError(rule)

    def purge_own_time(
        self, rule: Rule, cutoff: datetime, exported_until: datetime, position: tuple | None, limit: int
    ) -> Batch:
        """Deletes, in one transaction, up to `limit` rows older than `cutoff` (in index order from
        `position`) whose order is terminal and exported; steps over the others."""
        table, keyset, when = self._own_time(rule)
        limit_at = _naive(cutoff)
        with self._writer.begin() as conn:
            query = (
                sa.select(*keyset, orders.c.status, orders.c.updated_at)
                .select_from(table.outerjoin(orders, orders.c.order_key == table.c.order_key))
                .where(when < limit_at)
                .order_by(*keyset)
                .limit(limit)
            )
            if position is not None:
                query = query.where(_after(keyset, position))
            rows = conn.execute(query).all()
            if not rows:
                return Batch(rows=0, position=position, done=True)
            wm = _naive(exported_until)
            doomed = [r[: len(keyset)] for r in rows if r.status in TERMINAL and r.updated_at <= wm]
            deleted = 0
            if doomed:
                pk = keyset[1:] if rule is Rule.IDEMPOTENCY_KEYS else keyset[2:]
                values = [d[1:] if rule is Rule.IDEMPOTENCY_KEYS else d[2:] for d in doomed]
                deleted = conn.execute(table.delete().where(sa.tuple_(*pk).in_(values))).rowcount
        last = tuple(rows[-1][: len(keyset)])
        return Batch(rows=deleted, position=last, done=len(rows) < limit)

    def count_own_time(
        self, rule: Rule, cutoff: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]:
        table, _keyset, when = self._own_time(rule)
        query = (
            sa.select(sa.func.count(), sa.func.min(when))
            .select_from(table.join(orders, orders.c.order_key == table.c.order_key))
            .where(when < _naive(cutoff), orders.c.status.in_(TERMINAL))
        )
        if exported_until is None:
            return 0, None
        query = query.where(orders.c.updated_at <= _naive(exported_until))
        with self._engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count or 0), _aware(oldest)

    # -- after the verdict: walk orders by updated_at --------------------------------------------------------

    def cursor(self, rule: Rule) -> tuple[datetime, str] | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(retention_cursors.c.updated_at, retention_cursors.c.order_key).where(
                    retention_cursors.c.name == rule.value
                )
            ).first()
        return None if row is None else (_aware(row.updated_at), row.order_key)  # type: ignore[return-value]

    def set_cursor(self, rule: Rule, position: tuple[datetime, str]) -> None:
        at, key = _naive(position[0]), position[1]
        with self._writer.begin() as conn:
            changed = conn.execute(
                retention_cursors.update()
                .where(retention_cursors.c.name == rule.value)
                .values(updated_at=at, order_key=key)
            ).rowcount
            if changed == 0:
                conn.execute(retention_cursors.insert().values(name=rule.value, updated_at=at, order_key=key))

    def orders_after_verdict(
        self, after: tuple[datetime, str] | None, until: datetime, exported_until: datetime, limit: int
    ) -> list[CandidateOrder]:
        """Up to `limit` orders by (updated_at, order_key) after `after`, updated before `until` and at most
        at the export's watermark, terminal or not (the caller skips those in flight)."""
        keyset = [orders.c.updated_at, orders.c.order_key]
        query = (
            sa.select(orders.c.order_key, orders.c.status, orders.c.updated_at)
            .where(orders.c.updated_at < _naive(until), orders.c.updated_at <= _naive(exported_until))
            .order_by(*keyset)
            .limit(limit)
        )
        if after is not None:
            query = query.where(_after(keyset, (_naive(after[0]), after[1])))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [CandidateOrder(r.order_key, r.status, _aware(r.updated_at)) for r in rows]  # type: ignore[arg-type]

    def child_rows(self, rule: Rule, order_keys: Sequence[str]) -> dict[str, int]:
        """How many rows `rule` would touch per order (the caller groups orders into transactions)."""
        table = _AFTER_VERDICT_TABLE[rule]
        query = sa.select(table.c.order_key, sa.func.count()).where(table.c.order_key.in_(order_keys))
        if rule is Rule.PARTICIPANT_CONTACTS:
            query = query.where(sa.or_(table.c.email.is_not(None), table.c.phone.is_not(None)))
        with self._engine.connect() as conn:
            return {k: int(n) for k, n in conn.execute(query.group_by(table.c.order_key))}

    def apply_after_verdict(self, rule: Rule, order_keys: Sequence[str]) -> int:
        """One transaction: delete the orders' artifacts or delivery rows, or anonymise their participants'
        e-mail and phone (verdict, groups and reasons stay). Only terminal orders: checked again here."""
        table = _AFTER_VERDICT_TABLE[rule]
        with self._writer.begin() as conn:
            terminal = sa.select(orders.c.order_key).where(
                orders.c.order_key.in_(order_keys), orders.c.status.in_(TERMINAL)
            )
            keys = [k for (k,) in conn.execute(terminal)]
            if not keys:
                return 0
            if rule is Rule.PARTICIPANT_CONTACTS:
                statement = (
                    table.update()
                    .where(table.c.order_key.in_(keys), sa.or_(table.c.email.is_not(None), table.c.phone.is_not(None)))
                    .values(email=None, phone=None)
                )
            else:
                statement = table.delete().where(table.c.order_key.in_(keys))
            return int(conn.execute(statement).rowcount)

    def count_after_verdict(
        self, rule: Rule, after: tuple[datetime, str] | None, until: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]:
        if exported_until is None:
            return 0, None
        table = _AFTER_VERDICT_TABLE[rule]
        query = (
            sa.select(sa.func.count(), sa.func.min(orders.c.updated_at))
            .select_from(orders.join(table, table.c.order_key == orders.c.order_key))
            .where(
                orders.c.updated_at < _naive(until),
                orders.c.updated_at <= _naive(exported_until),
                orders.c.status.in_(TERMINAL),
            )
        )
        if after is not None:
            query = query.where(_after([orders.c.updated_at, orders.c.order_key], (_naive(after[0]), after[1])))
        if rule is Rule.PARTICIPANT_CONTACTS:
            query = query.where(sa.or_(table.c.email.is_not(None), table.c.phone.is_not(None)))
        with self._engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count or 0), _aware(oldest)

    # -- orders past retention: archive, then delete -------------------------------------------------------

    def next_archive_day(self, after: date | None, before: date) -> date | None:
        """The oldest creation day with orders, after `after` and before `before`."""
        query = sa.select(sa.func.min(orders.c.created_at)).where(
            orders.c.created_at < datetime.combine(before, time.min)
        )
        if after is not None:
            query = query.where(orders.c.created_at >= datetime.combine(after + timedelta(days=1), time.min))
        with self._engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else _as_date(value)

    def _day_range(self, day: date) -> sa.ColumnElement[bool]:
        start = datetime.combine(day, time.min)
        return sa.and_(orders.c.created_at >= start, orders.c.created_at < start + timedelta(days=1))

    def day_blockers(self, day: date, cutoff: datetime, exported_until: datetime) -> int:
        """Orders created on `day` that may not go yet (in flight, changed recently, or not exported)."""
        query = (
            sa.select(sa.func.count())
            .select_from(orders)
            .where(
                self._day_range(day),
                sa.or_(
                    orders.c.status.not_in(TERMINAL),
                    orders.c.updated_at >= _naive(cutoff),
                    orders.c.updated_at > _naive(exported_until),
                ),
            )
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def day_orders(self, day: date, limit: int) -> list[str]:
        query = sa.select(orders.c.order_key).where(self._day_range(day)).order_by(orders.c.order_key).limit(limit)
        with self._engine.connect() as conn:
            return [k for (k,) in conn.execute(query)]

    def order_records(self, order_keys: Sequence[str]) -> list[dict[str, Any]]:
        """Each order with every row that references it, as JSON-ready dicts (the archive's lines)."""
        records: dict[str, dict[str, Any]] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(sa.select(orders).where(orders.c.order_key.in_(order_keys))).mappings():
                records[row["order_key"]] = {"order": {k: _jsonable(v) for k, v in row.items()}}
                for name, _table in ORDER_CHILDREN:
                    records[row["order_key"]][name] = []
            for name, table in ORDER_CHILDREN:
                pk = [c for c in table.primary_key.columns]
                query = sa.select(table).where(table.c.order_key.in_(order_keys)).order_by(*pk)
                for row in conn.execute(query).mappings():
                    if row["order_key"] in records:
                        records[row["order_key"]][name].append({k: _jsonable(v) for k, v in row.items()})
        return [records[k] for k in sorted(records)]

    def record_archive(self, part: ArchivePart, order_keys: Sequence[str], now: datetime) -> None:
        """One transaction: the archive object is written and confirmed (ARCHIVED), with its orders."""
        with self._writer.begin() as conn:
            conn.execute(
                retention_archives.insert().values(
                    object_key=part.object_key,
                    day=part.day,
                    first_order_key=part.first_order_key,
                    last_order_key=part.last_order_key,
                    orders=part.orders,
                    row_count=part.rows,
                    size=part.size,
                    sha256=part.sha256,
                    state="ARCHIVED",
                    archived_at=_naive(now),
                    deleted_at=None,
                )
            )
            conn.execute(
                retention_archived_orders.insert(),
                [{"order_key": k, "object_key": part.object_key, "day": part.day} for k in order_keys],
            )

    def pending_archives(self) -> list[ArchivePart]:
        return self._parts(retention_archives.c.state == "ARCHIVED")

    def archive_parts(self, days: Iterable[date] | None = None) -> list[ArchivePart]:
        if days is None:
            return self._parts(sa.true())
        return self._parts(retention_archives.c.day.in_(sorted(set(days))))

    def _parts(self, where: sa.ColumnElement[bool]) -> list[ArchivePart]:
        a = retention_archives
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(a).where(where).order_by(a.c.day, a.c.object_key)).mappings().all()
        return [
            ArchivePart(
                object_key=r["object_key"],
                day=_as_date(r["day"]),
                first_order_key=r["first_order_key"],
                last_order_key=r["last_order_key"],
                orders=r["orders"],
                rows=r["row_count"],
                size=r["size"],
                sha256=r["sha256"],
                state=r["state"],
            )
            for r in rows
        ]

    def delete_orders(self, order_keys: Sequence[str]) -> dict[str, int]:
        """One transaction: the orders and every row that references them; rows deleted per table."""
        counts: dict[str, int] = {}
        with self._writer.begin() as conn:
            # Only terminal orders, checked again in this transaction (and locked until it commits).
            order_keys = [
                k
                for (k,) in conn.execute(
                    sa.select(orders.c.order_key)
                    .where(orders.c.order_key.in_(order_keys), orders.c.status.in_(TERMINAL))
                    .with_for_update()
                )
            ]
            if not order_keys:
                return {}
            for name in _DELETE_ORDER:
                table = _CHILD[name]
                counts[table.name] = int(conn.execute(table.delete().where(table.c.order_key.in_(order_keys))).rowcount)
            counts["orders"] = int(
                conn.execute(
                    orders.delete().where(orders.c.order_key.in_(order_keys), orders.c.status.in_(TERMINAL))
                ).rowcount
            )
        return counts

    def mark_deleted(self, object_key: str, now: datetime) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                retention_archives.update()
                .where(retention_archives.c.object_key == object_key)
                .values(state="DELETED", deleted_at=_naive(now))
            )

    def archived_object(self, order_key: str) -> str | None:
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(retention_archived_orders.c.object_key).where(
                    retention_archived_orders.c.order_key == order_key
                )
            ).scalar()

    def count_orders_due(
        self, before: date, cutoff: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]:
        if exported_until is None:
            return 0, None
        query = sa.select(sa.func.count(), sa.func.min(orders.c.created_at)).where(
            orders.c.created_at < datetime.combine(before, time.min),
            orders.c.status.in_(TERMINAL),
            orders.c.updated_at < _naive(cutoff),
            orders.c.updated_at <= _naive(exported_until),
        )
        with self._engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count or 0), _aware(oldest)

    # -- LGPD access report ------------------------------------------------------------------------------

    def person_report(self, cpf: str) -> dict[str, list[dict[str, Any]]]:
        """Where a person (CPF) appears in the live tables: as requester, guarantor and participant."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._engine.connect() as conn:
            out["requester"] = _plain_rows(
                conn,
                sa.select(
                    orders.c.order_key,
                    orders.c.status,
                    orders.c.area_code,
                    orders.c.created_at,
                    orders.c.updated_at,
                )
                .where(orders.c.requester_document == cpf)
                .order_by(orders.c.created_at),
            )
            out["guarantor"] = _plain_rows(
                conn,
                sa.select(
                    order_parties.c.order_key,
                    order_parties.c.position,
                    orders.c.status,
                    orders.c.created_at,
                    orders.c.updated_at,
                )
                .select_from(order_parties.join(orders, orders.c.order_key == order_parties.c.order_key))
                .where(order_parties.c.document == cpf, order_parties.c.role == "GUARANTOR")
                .order_by(orders.c.created_at),
            )
            p = order_participants
            out["participant"] = _plain_rows(
                conn,
                sa.select(
                    p.c.order_key,
                    p.c.party_position,
                    orders.c.status,
                    orders.c.updated_at,
                    p.c.name.is_not(None).label("has_name"),
                    p.c.email.is_not(None).label("has_email"),
                    p.c.phone.is_not(None).label("has_phone"),
                    p.c.groups,
                    p.c.reasons,
                )
                .select_from(p.join(orders, orders.c.order_key == p.c.order_key))
                .where(p.c.cpf == cpf)
                .order_by(orders.c.updated_at),
            )
            keys = sorted({r["order_key"] for rows in out.values() for r in rows})
            artifacts: Mapping[str, int] = {}
            if keys:
                artifacts = dict(
                    conn.execute(
                        sa.select(party_artifacts.c.order_key, sa.func.count())
                        .where(party_artifacts.c.order_key.in_(keys))
                        .group_by(party_artifacts.c.order_key)
                    ).all()
                )
            for rows in out.values():
                for r in rows:
                    r["partner_answers_held"] = int(artifacts.get(r["order_key"], 0))
        return out


def _plain_rows(conn: Any, query: Any) -> list[dict[str, Any]]:
    """A query's rows as plain JSON-ready dicts (dates as ISO text)."""
    return [{k: _jsonable(v) for k, v in r.items()} for r in conn.execute(query).mappings()]
