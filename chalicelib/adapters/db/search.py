"""SqlOrderSearch: the portal's order search as index-ordered keyset queries (MySQL/Aurora and SQLite)."""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.base import from_db_time, to_db_time
from chalicelib.adapters.db.schema import order_parties, orders
from chalicelib.domain.money import format_amount
from chalicelib.domain.orders import REQUEST_TEXT_FIELDS, PartyRole
from chalicelib.services.order_views import OrderSummary, Party
from chalicelib.services.search import OrderFilter, Position

_COLUMNS = (
    orders.c.order_key,
    orders.c.status,
    orders.c.area_code,
    orders.c.product_code,
    orders.c.platform,
    orders.c.signature_method,
    orders.c.amount,
    orders.c.external_reference,
    orders.c.requester_person_type,
    orders.c.requester_document,
    orders.c.created_by,
    orders.c.created_at,
    orders.c.updated_at,
)


def area_query(area: str, where: OrderFilter, after: Position | None, limit: int) -> sa.Select:
    """One area, newest first. `area_code = ?` (and `status = ?`) pin the leading columns of
    ix_orders_area_created / ix_orders_area_status_created, so rows come out of the index already ordered
    and the keyset condition starts the scan where the previous page ended: page 50 costs what page 1 does."""
    conditions: list[Any] = [orders.c.area_code == area]
    if where.status is not None:
        conditions.append(orders.c.status == where.status)
    if where.external_reference is not None:
        conditions.append(orders.c.external_reference == where.external_reference)
    if where.requester_document is not None:
        conditions.append(orders.c.requester_document == where.requester_document)
    if where.guarantor_document is not None:
        guarantor_orders = sa.select(order_parties.c.order_key).where(
            order_parties.c.document == where.guarantor_document,
            order_parties.c.role == PartyRole.GUARANTOR.value,
        )
        conditions.append(orders.c.order_key.in_(guarantor_orders))
    if where.created_from is not None:
        conditions.append(orders.c.created_at >= to_db_time(where.created_from))
    if where.created_to is not None:
        conditions.append(orders.c.created_at < to_db_time(where.created_to))
    if after is not None:
        at = to_db_time(after.created_at)
        # `created_at <= at` is a plain range on the index; the OR only drops the ties already shown.
        # (A bare OR of the two cases, or a row constructor, tempts MariaDB into an index merge + sort.)
        conditions.append(orders.c.created_at <= at)
        conditions.append(sa.or_(orders.c.created_at < at, orders.c.order_key < after.order_key))
    return (
        sa.select(*_COLUMNS)
        .where(*conditions)
        .order_by(orders.c.created_at.desc(), orders.c.order_key.desc())
        .limit(limit)
    )


class SqlOrderSearch:
    def __init__(self, engine: Engine):
        self._engine = engine

    def search(self, where: OrderFilter, after: Position | None, limit: int) -> list[OrderSummary]:
        # A caller serving several areas: one ordered index scan per area, merged here, instead of an
        # IN (...) that the database would have to sort in full before taking a page.
        with self._engine.connect() as conn:
            runs = [[_summary(r) for r in conn.execute(area_query(area, where, after, limit))] for area in where.areas]
        if len(runs) == 1:
            return runs[0]
        merged = heapq.merge(*runs, key=lambda s: (s.created_at, s.order_key), reverse=True)
        return [row for _, row in zip(range(limit), merged)]


def _summary(row: Any) -> OrderSummary:
    amount = row.amount if isinstance(row.amount, Decimal) else Decimal(str(row.amount))
    return OrderSummary(
        order_key=row.order_key,
        status=row.status,
        **{column: getattr(row, column) for column in REQUEST_TEXT_FIELDS},
        amount=format_amount(amount),
        requester=Party(person_type=row.requester_person_type, document=row.requester_document),
        created_by=row.created_by,
        created_at=from_db_time(row.created_at),
        updated_at=from_db_time(row.updated_at),
    )
