"""SqlAnalyticsStore: what the analytics export reads from AME's database, its watermark and daily roll-up.

Every aggregate (history counts, exclusions per reason, rules, partner calls) is computed by the database,
restricted to the window's orders, so the export reads one row per order and one per party.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.engine import MYSQL_TIMEOUT_SECONDS, WRITE_OPTION, create_engine_for
from chalicelib.adapters.db.schema import (
    VERDICT_BUCKETS,
    analytics_watermarks,
    insights_daily,
    insights_daily_reasons,
    order_participants,
    order_parties,
    order_partner_calls,
    order_rules,
    order_status_history,
    orders,
    retention_archives,
)
from chalicelib.domain.analytics import EXCLUSION_REASONS, PARTNERS, TERMINAL, DailyKey, OrderRow, PartyRow

CLAIM_DETAIL = "em processamento"  # what SqlOrderRepository.claim writes; other PROCESSING rows park


# The export reads a week of orders per query and the bench generates a million in one statement: far
# longer than the API's 5-second socket timeout, which stays as it is for every other engine.
EXPORT_READ_TIMEOUT_SECONDS = 900


def create_export_engine(url: str) -> Engine:
    """The engine of the export job (and of tools that run it): long reads and writes, a small pool."""
    if sa.engine.make_url(url).get_backend_name() not in ("mysql", "mariadb"):
        return create_engine_for(url)
    return create_engine_for(
        url,
        pool_size=1,
        max_overflow=1,
        connect_args={
            "charset": "utf8mb4",
            "connect_timeout": MYSQL_TIMEOUT_SECONDS,
            "read_timeout": EXPORT_READ_TIMEOUT_SECONDS,
            "write_timeout": EXPORT_READ_TIMEOUT_SECONDS,
            "init_command": "SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = 50",
        },
    )


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _window(start: date, end: date) -> Any:
    """Orders created on days start..end-1 (UTC)."""
    return sa.and_(
        orders.c.created_at >= datetime.combine(start, datetime.min.time()),
        orders.c.created_at < datetime.combine(end, datetime.min.time()),
    )


def _flag(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


class SqlAnalyticsStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    # -- what changed ---------------------------------------------------------------------------------

    def changed_days(self, after: datetime | None, until: datetime) -> list[date]:
        """Creation days of the orders updated in (after, until]: the partitions to rewrite."""
        day = sa.func.date(orders.c.created_at)
        query = sa.select(day).where(orders.c.updated_at <= _naive(until)).distinct()
        if after is not None:
            query = query.where(orders.c.updated_at > _naive(after))
        with self._engine.connect() as conn:
            return sorted({_as_date(v) for (v,) in conn.execute(query)})

    def all_days(self) -> list[date]:
        with self._engine.connect() as conn:
            return sorted(
                {_as_date(v) for (v,) in conn.execute(sa.select(sa.func.date(orders.c.created_at)).distinct())}
            )

    def archived_days(self) -> set[date]:
        """Creation days the retention job archived (docs/data-lifecycle.md): the export leaves them as they are."""
        with self._engine.connect() as conn:
            return {_as_date(v) for (v,) in conn.execute(sa.select(retention_archives.c.day).distinct())}

    # -- the rows of a window ---------------------------------------------------------------------------

    def order_rows(self, start: date, end: date) -> Iterator[OrderRow]:
        h = order_status_history
        inside = _window(start, end)
        history = (
            sa.select(
                h.c.order_key,
                sa.func.count().label("history_rows"),
                _flag(sa.and_(h.c.status == "PROCESSING", h.c.detail == CLAIM_DETAIL)).label("claims"),
                _flag(
                    sa.and_(h.c.status == "PROCESSING", sa.or_(h.c.detail.is_(None), h.c.detail != CLAIM_DETAIL))
                ).label("parks"),
                sa.func.max(sa.case((h.c.status.in_(TERMINAL), h.c.created_at), else_=None)).label("verdict_at"),
            )
            .select_from(h.join(orders, orders.c.order_key == h.c.order_key))
            .where(inside)
            .group_by(h.c.order_key)
            .subquery()
        )
        pc = order_partner_calls
        calls = (
            sa.select(
                pc.c.order_key,
                sa.func.sum(pc.c.calls).label("calls"),
                sa.func.sum(pc.c.errors).label("errors"),
                sa.func.sum(pc.c.latency_ms).label("latency_ms"),
                *(
                    sa.func.sum(sa.case((pc.c.partner == partner, getattr(pc.c, measure)), else_=0)).label(
                        f"{partner}_{measure}"
                    )
                    for partner in PARTNERS
                    for measure in ("calls", "errors", "latency_ms")
                ),
            )
            .select_from(pc.join(orders, orders.c.order_key == pc.c.order_key))
            .where(inside)
            .group_by(pc.c.order_key)
            .subquery()
        )
        query = (
            sa.select(
                orders.c.order_key,
                orders.c.area_code,
                orders.c.product_code,
                orders.c.platform,
                orders.c.signature_method,
                orders.c.amount,
                orders.c.requester_person_type,
                orders.c.requester_document,
                orders.c.status,
                orders.c.created_at,
                orders.c.updated_at,
                history.c.history_rows,
                history.c.claims,
                history.c.parks,
                history.c.verdict_at,
                calls.c.calls,
                calls.c.errors,
                calls.c.latency_ms,
                *(
                    calls.c[f"{partner}_{measure}"]
                    for partner in PARTNERS
                    for measure in ("calls", "errors", "latency_ms")
                ),
            )
            .select_from(
                orders.outerjoin(history, history.c.order_key == orders.c.order_key).outerjoin(
                    calls, calls.c.order_key == orders.c.order_key
                )
            )
            .where(inside)
            .order_by(orders.c.order_key)
        )
        with self._engine.connect() as conn:
            for r in conn.execute(query):
                yield OrderRow(
                    order_key=r[0],
                    area_code=r[1],
                    product_code=r[2],
                    platform=r[3],
                    signature_method=r[4],
                    amount=r[5] if isinstance(r[5], Decimal) else Decimal(str(r[5])),
                    requester_person_type=r[6],
                    requester_document=r[7],
                    status=r[8],
                    created_at=_as_datetime(r[9]),
                    updated_at=_as_datetime(r[10]),
                    history_rows=int(r[11] or 0),
                    claims=int(r[12] or 0),
                    parks=int(r[13] or 0),
                    verdict_at=_as_datetime(r[14]),
                    partner_calls=int(r[15] or 0),
                    partner_errors=int(r[16] or 0),
                    partner_latency_ms=int(r[17] or 0),
                    by_partner={
                        partner: tuple(int(v or 0) for v in r[18 + 3 * i : 21 + 3 * i])
                        for i, partner in enumerate(PARTNERS)
                    },
                )

    def party_rows(self, start: date, end: date) -> Iterator[PartyRow]:
        inside = _window(start, end)
        pp, r_ = order_participants, order_rules
        participants = _per_party(
            pp,
            inside,
            sa.func.count().label("participants"),
            *(_flag(pp.c.reasons.like(f'%"{reason}"%')).label(reason.lower()) for reason in EXCLUSION_REASONS),
        )
        rules = _per_party(
            r_,
            inside,
            _flag(r_.c.applicable.is_(True)).label("applicable"),
            _flag(r_.c.satisfied.is_(True)).label("satisfied"),
        )
        p = order_parties
        query = (
            sa.select(
                p.c.order_key,
                p.c.position,
                p.c.role,
                p.c.person_type,
                p.c.quorum_met,
                p.c.reason,
                participants.c.participants,
                rules.c.applicable,
                rules.c.satisfied,
                *(participants.c[reason.lower()] for reason in EXCLUSION_REASONS),
            )
            .select_from(
                p.join(orders, orders.c.order_key == p.c.order_key)
                .outerjoin(
                    participants,
                    sa.and_(participants.c.order_key == p.c.order_key, participants.c.party_position == p.c.position),
                )
                .outerjoin(rules, sa.and_(rules.c.order_key == p.c.order_key, rules.c.party_position == p.c.position))
            )
            .where(inside)
            .order_by(p.c.order_key, p.c.position)
        )
        with self._engine.connect() as conn:
            for r in conn.execute(query):
                yield PartyRow(
                    order_key=r[0],
                    position=int(r[1]),
                    role=r[2],
                    person_type=r[3],
                    quorum_met=None if r[4] is None else bool(r[4]),
                    reason=r[5],
                    participants=int(r[6] or 0),
                    rules_applicable=int(r[7] or 0),
                    rules_satisfied=int(r[8] or 0),
                    excluded={reason: int(v or 0) for reason, v in zip(EXCLUSION_REASONS, r[9:]) if v},
                )

    def dimension_sources(self) -> dict[str, Any]:
        """Latest settings snapshot per area; platforms, methods, products and days from the roll-up
        (kept in step with the files, and small), so a run does not scan the orders table for them."""
        d = insights_daily
        with self._engine.connect() as conn:
            # (area_code, created_at) is indexed: the latest order per area is an index look-up each.
            latest = (
                sa.select(orders.c.area_code, sa.func.max(orders.c.created_at).label("at"))
                .group_by(orders.c.area_code)
                .subquery()
            )
            snapshots = conn.execute(
                sa.select(orders.c.area_code, orders.c.area_snapshot).join(
                    latest, sa.and_(latest.c.area_code == orders.c.area_code, latest.c.at == orders.c.created_at)
                )
            ).all()
            platforms = [v for (v,) in conn.execute(sa.select(d.c.platform).distinct())]
            methods = [v for (v,) in conn.execute(sa.select(d.c.signature_method).distinct())]
            products = [v for (v,) in conn.execute(sa.select(d.c.product_code).distinct())]
            first, last = conn.execute(sa.select(sa.func.min(d.c.day), sa.func.max(d.c.day))).one()
        areas: dict[str, dict[str, Any]] = {}
        for code, snapshot in snapshots:
            try:
                data = json.loads(snapshot) if snapshot else {}
            except ValueError:
                data = {}
            areas[code] = (
                {"name": data.get("name"), "cost_center": data.get("cost_center")} if isinstance(data, dict) else {}
            )
        return {
            "areas": areas,
            "platforms": platforms,
            "methods": methods,
            "products": products,
            "first_day": None if first is None else _as_date(first),
            "last_day": None if last is None else _as_date(last),
        }

    # -- watermark ----------------------------------------------------------------------------------------

    def watermark(self, name: str) -> datetime | None:
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(analytics_watermarks.c.high_water).where(analytics_watermarks.c.name == name)
            ).scalar()
        return _aware(_as_datetime(value))

    def set_watermark(self, name: str, high_water: datetime, now: datetime) -> None:
        w = analytics_watermarks
        with self._writer.begin() as conn:
            changed = conn.execute(
                w.update().where(w.c.name == name).values(high_water=_naive(high_water), updated_at=_naive(now))
            ).rowcount
            if changed == 0:
                conn.execute(w.insert().values(name=name, high_water=_naive(high_water), updated_at=_naive(now)))

    # -- roll-up --------------------------------------------------------------------------------------------

    def replace_rollup(
        self,
        days: Iterable[date],
        daily: Mapping[DailyKey, Mapping[str, Any]],
        reasons: Mapping[tuple[str, date, str], int],
    ) -> None:
        """The roll-up of `days` becomes exactly `daily` and `reasons`, in one transaction."""
        days = sorted(set(days))
        if not days:
            return
        daily_rows = [
            {
                "area_code": k[0],
                "day": k[1],
                "platform": k[2],
                "signature_method": k[3],
                "product_code": k[4],
                **{c: v for c, v in row.items() if c != "verdict_histogram"},
                **{f"verdict_bucket_{i:02d}": n for i, n in enumerate(row["verdict_histogram"])},
            }
            for k, row in daily.items()
        ]
        reason_rows = [{"area_code": a, "day": d, "reason": r, "parties": n} for (a, d, r), n in reasons.items()]
        with self._writer.begin() as conn:
            for chunk in _chunks(days, 500):
                conn.execute(insights_daily.delete().where(insights_daily.c.day.in_(chunk)))
                conn.execute(insights_daily_reasons.delete().where(insights_daily_reasons.c.day.in_(chunk)))
            for chunk in _chunks(daily_rows, 2000):
                conn.execute(insights_daily.insert(), chunk)
            for chunk in _chunks(reason_rows, 2000):
                conn.execute(insights_daily_reasons.insert(), chunk)

    def rollup_rows(self, area_code: str, first: date, last: date) -> tuple[list[dict], list[dict], list[dict]]:
        """(per day, per platform/method/product, per no-quorum reason) sums over one area and range;
        the database sums, so a year is 365 + a few rows whatever the number of combinations."""
        d, r = insights_daily, insights_daily_reasons
        where = (d.c.area_code == area_code, d.c.day >= first, d.c.day <= last)
        counts = (
            "orders",
            "quorum_met",
            "no_quorum",
            "failed",
            "in_progress",
            "partner_calls",
            "partner_errors",
            "partner_latency_ms",
        )
        buckets = [f"verdict_bucket_{i:02d}" for i in range(VERDICT_BUCKETS)]
        with self._engine.connect() as conn:
            days = conn.execute(
                sa.select(d.c.day, *(sa.cast(sa.func.sum(d.c[c]), sa.BigInteger).label(c) for c in (*counts, *buckets)))
                .where(*where)
                .group_by(d.c.day)
            ).all()
            groups = conn.execute(
                sa.select(
                    d.c.platform,
                    d.c.signature_method,
                    d.c.product_code,
                    *(sa.func.sum(d.c[c]).label(c) for c in ("orders", "quorum_met", "no_quorum")),
                )
                .where(*where)
                .group_by(d.c.platform, d.c.signature_method, d.c.product_code)
            ).all()
            reasons = conn.execute(
                sa.select(r.c.reason, sa.func.sum(r.c.parties).label("parties"))
                .where(r.c.area_code == area_code, r.c.day >= first, r.c.day <= last)
                .group_by(r.c.reason)
            ).all()
        day_rows = []
        for row in days:
            m = row._mapping
            day_rows.append(
                {
                    "day": _as_date(m["day"]),
                    **{c: int(m[c] or 0) for c in counts},
                    "verdict_histogram": [int(m[b] or 0) for b in buckets],
                }
            )
        group_rows = [
            {k: (int(v or 0) if k in ("orders", "quorum_met", "no_quorum") else v) for k, v in row._mapping.items()}
            for row in groups
        ]
        reason_rows = [{"reason": row.reason, "parties": int(row.parties or 0)} for row in reasons]
        return day_rows, group_rows, reason_rows

    # -- partner calls per order -------------------------------------------------------------------------

    def add_partner_calls(self, order_key: str, tally: Mapping[str, tuple[int, int, int]]) -> None:
        """Adds (calls, errors, latency ms) per partner to the order's counters, in a transaction of its own."""
        from chalicelib.adapters.db.partner_calls import add_partner_calls

        with self._writer.begin() as conn:
            add_partner_calls(conn, order_key, tally)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def day_windows(days: Iterable[date], max_days: int = 7) -> Iterator[tuple[date, date]]:
    """Consecutive days grouped into [start, end) windows of at most `max_days` days."""
    run: list[date] = []
    for day in sorted(set(days)):
        if run and (day != run[-1] + timedelta(days=1) or len(run) >= max_days):
            yield run[0], run[-1] + timedelta(days=1)
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1] + timedelta(days=1)


def _per_party(table: sa.Table, inside: Any, *aggregates: Any) -> Any:
    """`aggregates` of `table`'s rows per order party (order_key, party_position), over the orders `inside`."""
    return (
        sa.select(table.c.order_key, table.c.party_position, *aggregates)
        .select_from(table.join(orders, orders.c.order_key == table.c.order_key))
        .where(inside)
        .group_by(table.c.order_key, table.c.party_position)
        .subquery()
    )
