"""The orders themselves: creation (with its idempotency key), reading, and status transitions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chalicelib.adapters.db.base import SqlStore, amount_or_none, from_db_time, loads, rows_of_order, to_db_time
from chalicelib.adapters.db.schema import (
    idempotency_keys,
    order_documents,
    order_parties,
    order_status_history,
    orders,
)
from chalicelib.adapters.jsontext import dumps
from chalicelib.domain.orders import (
    REQUEST_TEXT_FIELDS,
    DocumentRequest,
    OrderDraft,
    OrderParty,
    OrderStatus,
    StatusChange,
    StoredOrder,
)
from chalicelib.services.ports import IdempotencyKeyTaken, OrderStamp, OutboxMessage

# Built once (see base._rows_of_order_statement): every read of an order runs it.
_ORDER_ROW = sa.select(orders).where(orders.c.order_key == sa.bindparam("k_order_key"))
_ORDER_STAMP = sa.select(orders.c.status, orders.c.version, orders.c.updated_at, orders.c.area_code).where(
    orders.c.order_key == sa.bindparam("k_order_key")
)


class SqlOrders(SqlStore):
    """The OrderReader and OrderWriter ports (chalicelib/services/ports.py)."""

    def ping(self) -> None:
        """A round trip to the database (readiness); raises when it does not answer."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- creation ---------------------------------------------------------------------------------

    def create_order(self, draft: OrderDraft, outbox: OutboxMessage) -> None:
        request = draft.request
        created_at = to_db_time(draft.created_at)
        requester = next((p for p in draft.parties if p.position == 0), None)
        if requester is None:
            raise ValueError(f"order {draft.order_key} has no requester (party at position 0)")
        with self._write("create_order") as conn:
            conn.execute(
                orders.insert().values(
                    order_key=draft.order_key,
                    status=OrderStatus.RECEIVED.value,
                    status_detail=None,
                    version=0,
                    created_by=draft.created_by,
                    updated_by=draft.created_by,
                    **{column: getattr(request, column) for column in REQUEST_TEXT_FIELDS},
                    amount=request.amount,
                    requester_person_type=requester.person_type.value,
                    requester_document=requester.document,
                    idempotency_key=draft.idempotency_key,
                    request_hash=draft.request_hash,
                    area_snapshot=dumps(draft.area_snapshot),
                    request_body=dumps(request.model_dump(mode="json")),
                    result=None,
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
            if draft.idempotency_key is not None:
                # Written right after the order so a concurrent duplicate fails before the rest.
                try:
                    conn.execute(
                        idempotency_keys.insert().values(
                            caller=draft.created_by,
                            idempotency_key=draft.idempotency_key,
                            request_hash=draft.request_hash or "",
                            order_key=draft.order_key,
                            created_at=created_at,
                        )
                    )
                except IntegrityError as exc:
                    raise IdempotencyKeyTaken(draft.idempotency_key) from exc
            conn.execute(
                order_parties.insert(),
                [
                    {
                        "order_key": draft.order_key,
                        "position": party.position,
                        "role": party.role.value,
                        "person_type": party.person_type.value,
                        "document": party.document,
                        "power_code": party.power_code,
                        "quorum_met": None,
                        "reason": None,
                        "evaluation": None,
                    }
                    for party in draft.parties
                ],
            )
            if request.documents:
                conn.execute(
                    order_documents.insert(),
                    [
                        {
                            "order_key": draft.order_key,
                            "position": position,
                            "document_type": document.document_type,
                            "title": document.title,
                        }
                        for position, document in enumerate(request.documents)
                    ],
                )
            conn.execute(
                order_status_history.insert().values(
                    order_key=draft.order_key,
                    status=OrderStatus.RECEIVED.value,
                    detail=None,
                    created_at=created_at,
                )
            )
            self._insert_outbox(conn, outbox)

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        query = sa.select(idempotency_keys.c.order_key, idempotency_keys.c.request_hash).where(
            idempotency_keys.c.caller == caller, idempotency_keys.c.idempotency_key == key
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.order_key, row.request_hash)

    # -- reading ----------------------------------------------------------------------------------

    def get_order(self, order_key: str) -> StoredOrder | None:
        # No snapshot needed: parties and documents never change once the order is written. Only the purge
        # removes them, and an order it took between these reads is read as the missing order it now is.
        with self._single_reads.connect() as conn:
            row = conn.execute(_ORDER_ROW, {"k_order_key": order_key}).first()
            if row is None:
                return None
            party_rows = rows_of_order(conn, order_parties, order_key, "position")
            document_rows = rows_of_order(conn, order_documents, order_key, "position")
        if not party_rows:
            return None
        parties = [
            OrderParty(
                position=p.position,
                role=p.role,
                person_type=p.person_type,
                document=p.document,
                power_code=p.power_code,
            )
            for p in party_rows
        ]
        return StoredOrder(
            order_key=row.order_key,
            status=OrderStatus(row.status),
            status_detail=row.status_detail,
            created_by=row.created_by,
            **{column: getattr(row, column) for column in REQUEST_TEXT_FIELDS},
            amount=amount_or_none(row.amount),
            requester=parties[0],
            guarantors=parties[1:],
            documents=[DocumentRequest(document_type=d.document_type, title=d.title) for d in document_rows],
            area_snapshot=loads(row.area_snapshot),
            result=loads(row.result),
            created_at=from_db_time(row.created_at),
            updated_at=from_db_time(row.updated_at),
            version=row.version,
            processing_by=row.processing_by,
            redrive_count=row.redrive_count,
            first_failure_at=from_db_time(row.first_failure_at),
            next_attempt_at=from_db_time(row.next_attempt_at),
            parked_on=row.parked_on,
        )

    def order_stamp(self, order_key: str) -> OrderStamp | None:
        with self._single_reads.connect() as conn:
            row = conn.execute(_ORDER_STAMP, {"k_order_key": order_key}).first()
        if row is None:
            return None
        updated_at = from_db_time(row.updated_at)
        assert updated_at is not None  # NOT NULL
        return OrderStamp(OrderStatus(row.status), row.version, updated_at, row.area_code)

    def history(self, order_key: str) -> list[StatusChange]:
        query = (
            sa.select(order_status_history.c.status, order_status_history.c.detail, order_status_history.c.created_at)
            .where(order_status_history.c.order_key == order_key)
            .order_by(order_status_history.c.id)
        )
        with self._single_reads.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StatusChange(status=OrderStatus(r.status), detail=r.detail, at=from_db_time(r.created_at)) for r in rows
        ]

    # -- status -----------------------------------------------------------------------------------

    def transition(
        self,
        order_key: str,
        expected: Iterable[OrderStatus],
        new: OrderStatus,
        now: datetime,
        detail: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        expected_values = [OrderStatus(s).value for s in expected]
        if not expected_values:
            return False
        at = to_db_time(now)
        extra: dict[str, Any] = {} if result is None else {"result": dumps(result)}
        with self._write("transition") as conn:
            return self._change_status(conn, order_key, orders.c.status.in_(expected_values), new, detail, at, **extra)
