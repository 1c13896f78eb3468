"""SqlOrderRepository: the OrderRepository port over SQLAlchemy Core (MySQL/Aurora and SQLite)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from chalicelib.adapters.db.engine import WRITE_OPTION
from chalicelib.adapters.db.schema import (
    idempotency_keys,
    order_documents,
    order_participants,
    order_parties,
    order_rules,
    order_status_history,
    orders,
    outbox,
    party_artifacts,
)
from chalicelib.domain.orders import (
    DocumentRequest,
    OrderDraft,
    OrderParty,
    OrderStatus,
    StatusChange,
    StoredOrder,
    format_amount,
)
from chalicelib.adapters.jsontext import dumps  # noqa: F401  (re-exported: callers store JSON with it)
from chalicelib.observability import db_transaction
from chalicelib.services.ports import CREATION_QUEUE, ClaimOutcome, IdempotencyKeyTaken, OutboxMessage

SYSTEM_ACTOR = "ame"


class UnknownParty(LookupError):
    """save_party_evaluation was given an (order_key, position) that is not stored."""


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def to_db_time(value: datetime) -> datetime:
    """Naive UTC, as stored. A naive input is refused: its zone is a guess we will not make."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {value!r}")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def from_db_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=timezone.utc)


def _amount_or_none(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


class SqlOrderRepository:
    """Orders and everything hanging from them. Every write is one explicit transaction."""

    def __init__(self, engine: Engine, system_actor: str = SYSTEM_ACTOR) -> None:
        self._engine = engine
        # On SQLite this makes the transaction BEGIN IMMEDIATE (see engine._sqlite_begin).
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._system_actor = system_actor

    @contextmanager
    def _write(self, name: str) -> Iterator[sa.Connection]:
        """One write transaction, traced as a `db.<name>` subsegment when tracing is on."""
        with db_transaction(name), self._writer.begin() as conn:
            yield conn

    def ping(self) -> None:
        """A round trip to the database (readiness); raises when it does not answer."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- creation ---------------------------------------------------------------------------------

    def create_order(self, draft: OrderDraft, outbox_message: OutboxMessage) -> None:
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
                    area_code=request.area_code,
                    product_code=request.product_code,
                    platform=request.platform,
                    signature_method=request.signature_method,
                    amount=request.amount,
                    external_reference=request.external_reference,
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
            conn.execute(
                outbox.insert().values(
                    message_id=outbox_message.message_id,
                    order_key=outbox_message.order_key,
                    queue=outbox_message.queue,
                    body=outbox_message.body,
                    created_at=to_db_time(outbox_message.created_at),
                    published_at=(
                        None
                        if outbox_message.published_at is None
                        else to_db_time(outbox_message.published_at)
                    ),
                    attempts=outbox_message.attempts,
                )
            )

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        query = sa.select(idempotency_keys.c.order_key, idempotency_keys.c.request_hash).where(
            idempotency_keys.c.caller == caller, idempotency_keys.c.idempotency_key == key
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.order_key, row.request_hash)

    # -- reading ----------------------------------------------------------------------------------

    def get_order(self, order_key: str) -> StoredOrder | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(orders).where(orders.c.order_key == order_key)).first()
            if row is None:
                return None
            party_rows = conn.execute(
                sa.select(order_parties)
                .where(order_parties.c.order_key == order_key)
                .order_by(order_parties.c.position)
            ).all()
            document_rows = conn.execute(
                sa.select(order_documents.c.document_type, order_documents.c.title)
                .where(order_documents.c.order_key == order_key)
                .order_by(order_documents.c.position)
            ).all()
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
            area_code=row.area_code,
            product_code=row.product_code,
            platform=row.platform,
            signature_method=row.signature_method,
            amount=_amount_or_none(row.amount),
            external_reference=row.external_reference,
            requester=parties[0],
            guarantors=parties[1:],
            documents=[DocumentRequest(document_type=d.document_type, title=d.title) for d in document_rows],
            area_snapshot=_loads(row.area_snapshot),
            result=_loads(row.result),
            created_at=from_db_time(row.created_at),
            updated_at=from_db_time(row.updated_at),
            version=row.version,
            processing_by=row.processing_by,
            redrive_count=row.redrive_count,
            first_failure_at=from_db_time(row.first_failure_at),
            next_attempt_at=from_db_time(row.next_attempt_at),
        )

    def history(self, order_key: str) -> list[StatusChange]:
        query = (
            sa.select(order_status_history.c.status, order_status_history.c.detail, order_status_history.c.created_at)
            .where(order_status_history.c.order_key == order_key)
            .order_by(order_status_history.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [StatusChange(status=OrderStatus(r.status), detail=r.detail, at=from_db_time(r.created_at)) for r in rows]

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
        values: dict[str, Any] = {
            "status": OrderStatus(new).value,
            "status_detail": detail,
            "version": orders.c.version + 1,
            "updated_at": at,
            "updated_by": self._system_actor,
        }
        if result is not None:
            values["result"] = dumps(result)
        with self._write("transition") as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, orders.c.status.in_(expected_values))
                .values(**values)
            ).rowcount
            if changed != 1:
                return False
            conn.execute(
                order_status_history.insert().values(
                    order_key=order_key, status=OrderStatus(new).value, detail=detail, created_at=at
                )
            )
        return True

    # -- outbox -----------------------------------------------------------------------------------

    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]:
        query = (
            sa.select(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.created_at < to_db_time(created_before))
            .order_by(outbox.c.created_at, outbox.c.message_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_outbox_message(r) for r in rows]

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
            conn.execute(
                outbox.update()
                .where(outbox.c.order_key == order_key, outbox.c.queue == CREATION_QUEUE,
                       outbox.c.published_at.is_(None))
                .values(published_at=to_db_time(now), attempts=outbox.c.attempts + 1)
            )

    # -- party evaluation (workflow) --------------------------------------------------------------

    def save_party_evaluation(
        self,
        order_key: str,
        position: int,
        *,
        quorum_met: bool | None,
        reason: str | None,
        evaluation: dict[str, Any],
        participants: list[Mapping[str, Any]],
        rules: list[Mapping[str, Any]],
    ) -> None:
        """Replace the party's verdict, participants and rules: re-running it leaves the same rows."""
        participant_rows = [_participant_row(order_key, position, p) for p in participants]
        cpfs = [row["cpf"] for row in participant_rows]
        if len(set(cpfs)) != len(cpfs):
            raise ValueError(f"duplicate participant CPF for party {position} of {order_key}")
        rule_rows = [_rule_row(order_key, position, r) for r in rules]
        rule_ids = [row["rule_id"] for row in rule_rows]
        if len(set(rule_ids)) != len(rule_ids):
            raise ValueError(f"duplicate rule_id for party {position} of {order_key}")
        party = (order_parties.c.order_key == order_key) & (order_parties.c.position == position)
        with self._write("save_party_evaluation") as conn:
            updated = conn.execute(
                order_parties.update()
                .where(party)
                .values(quorum_met=quorum_met, reason=reason, evaluation=dumps(evaluation))
            ).rowcount
            if updated != 1:
                raise UnknownParty(f"{order_key} has no party at position {position}")
            for table in (order_participants, order_rules):
                conn.execute(
                    table.delete().where(table.c.order_key == order_key, table.c.party_position == position)
                )
            if participant_rows:
                conn.execute(order_participants.insert(), participant_rows)
            if rule_rows:
                conn.execute(order_rules.insert(), rule_rows)

    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]:
        """Per party position: role, document, verdict, evaluation, participants (by CPF), rules (by id)."""
        with self._engine.connect() as conn:
            parties = conn.execute(
                sa.select(order_parties)
                .where(order_parties.c.order_key == order_key)
                .order_by(order_parties.c.position)
            ).all()
            participants = conn.execute(
                sa.select(order_participants)
                .where(order_participants.c.order_key == order_key)
                .order_by(order_participants.c.party_position, order_participants.c.cpf)
            ).all()
            rules = conn.execute(
                sa.select(order_rules)
                .where(order_rules.c.order_key == order_key)
                .order_by(order_rules.c.party_position, order_rules.c.rule_id)
            ).all()
        details: dict[int, dict[str, Any]] = {
            p.position: {
                "position": p.position,
                "role": p.role,
                "person_type": p.person_type,
                "document": p.document,
                "power_code": p.power_code,
                "quorum_met": None if p.quorum_met is None else bool(p.quorum_met),
                "reason": p.reason,
                "evaluation": _loads(p.evaluation),
                "participants": [],
                "rules": [],
            }
            for p in parties
        }
        for r in participants:
            details[r.party_position]["participants"].append(
                {
                    "cpf": r.cpf,
                    "name": r.name,
                    "email": r.email,
                    "phone": r.phone,
                    "groups": _loads(r.groups),
                    "restricted": bool(r.restricted),
                    "active": bool(r.active),
                    "reasons": _loads(r.reasons),
                    "joint_only": bool(r.joint_only),
                }
            )
        for r in rules:
            max_amount = _amount_or_none(r.max_amount)
            details[r.party_position]["rules"].append(
                {
                    "rule_id": r.rule_id,
                    "description": r.description,
                    "max_amount": None if max_amount is None else format_amount(max_amount),
                    "requirements": _loads(r.requirements),
                    "applicable": bool(r.applicable),
                    "satisfied": bool(r.satisfied),
                }
            )
        return details

    # -- workflow: claim, artifacts, conclusion -------------------------------------------------

    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome:
        """RECEIVED -> PROCESSING owned by `execution_id`, by compare-and-set."""
        at = to_db_time(now)
        with self._write("claim") as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, sa.or_(
                    orders.c.status == OrderStatus.RECEIVED.value,
                    # a parked order (try again later) is claimed again by its re-drive execution
                    sa.and_(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by.is_(None))))
                .values(status=OrderStatus.PROCESSING.value, processing_by=execution_id, next_attempt_at=None,
                        status_detail="em processamento", version=orders.c.version + 1,
                        updated_at=at, updated_by=self._system_actor)
            ).rowcount
            if changed == 1:
                conn.execute(order_status_history.insert().values(
                    order_key=order_key, status=OrderStatus.PROCESSING.value,
                    detail="em processamento", created_at=at))
                return ClaimOutcome.CLAIMED
            row = conn.execute(
                sa.select(orders.c.status, orders.c.processing_by).where(orders.c.order_key == order_key)
            ).first()
        if row is None:
            return ClaimOutcome.MISSING
        status = OrderStatus(row.status)
        if status is OrderStatus.PROCESSING:
            return ClaimOutcome.RESUMED if row.processing_by == execution_id else ClaimOutcome.BUSY
        return ClaimOutcome.TERMINAL if status.terminal else ClaimOutcome.BUSY

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        """Replace one party artifact; re-running a task rewrites the same row."""
        key = (party_artifacts.c.order_key == order_key, party_artifacts.c.position == position,
               party_artifacts.c.kind == kind)
        with self._write("put_artifact") as conn:
            conn.execute(party_artifacts.delete().where(*key))
            conn.execute(party_artifacts.insert().values(
                order_key=order_key, position=position, kind=kind, payload=dumps(payload),
                updated_at=to_db_time(now)))

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]:
        query = sa.select(party_artifacts.c.kind, party_artifacts.c.payload).where(
            party_artifacts.c.order_key == order_key, party_artifacts.c.position == position)
        with self._engine.connect() as conn:
            return {r.kind: _loads(r.payload) for r in conn.execute(query)}

    def conclude(self, order_key: str, execution_id: str, status: OrderStatus, now: datetime,
                 detail: str | None, result: dict[str, Any] | None, event: OutboxMessage) -> bool:
        """Terminal status + history + the event's outbox row, in one transaction, by compare-and-set:
        only the execution that owns the PROCESSING order (or anyone while it is still RECEIVED)."""
        at = to_db_time(now)
        detail = detail[:500] if detail else detail
        owned = sa.and_(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by == execution_id)
        unclaimed = orders.c.status == OrderStatus.RECEIVED.value
        with self._write("conclude") as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, sa.or_(owned, unclaimed))
                .values(status=OrderStatus(status).value, status_detail=detail, next_attempt_at=None,
                        result=dumps(result) if result is not None else None,
                        version=orders.c.version + 1, updated_at=at, updated_by=self._system_actor)
            ).rowcount
            if changed != 1:
                return False
            conn.execute(order_status_history.insert().values(
                order_key=order_key, status=OrderStatus(status).value, detail=detail, created_at=at))
            conn.execute(outbox.insert().values(
                message_id=event.message_id, order_key=event.order_key, queue=event.queue, body=event.body,
                created_at=to_db_time(event.created_at), published_at=None, attempts=0))
        return True

    def park(self, order_key: str, execution_id: str, now: datetime, detail: str,
             next_attempt_at: datetime) -> bool:
        """Try again later: the owning execution lets go of the order (PROCESSING, no owner) and
        records when the next attempt is due. One transaction with its history row."""
        at = to_db_time(now)
        detail = detail[:500]
        with self._write("park") as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, orders.c.status == OrderStatus.PROCESSING.value,
                       orders.c.processing_by == execution_id)
                .values(processing_by=None, status_detail=detail, redrive_count=orders.c.redrive_count + 1,
                        first_failure_at=sa.func.coalesce(orders.c.first_failure_at, at),
                        next_attempt_at=to_db_time(next_attempt_at), version=orders.c.version + 1,
                        updated_at=at, updated_by=self._system_actor)
            ).rowcount
            if changed != 1:
                return False
            conn.execute(order_status_history.insert().values(
                order_key=order_key, status=OrderStatus.PROCESSING.value, detail=detail, created_at=at))
        return True

    def release(self, order_key: str, owner: str | None, now: datetime, detail: str) -> bool:
        """The sweeper takes a stuck order back: from a dead execution (`owner`) or, with owner None,
        from RECEIVED whose creation message was lost. It becomes parked and due now."""
        at = to_db_time(now)
        detail = detail[:500]
        if owner is None:
            where = orders.c.status == OrderStatus.RECEIVED.value
        else:
            where = sa.and_(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by == owner)
        with self._write("release") as conn:
            changed = conn.execute(
                orders.update().where(orders.c.order_key == order_key, where)
                .values(status=OrderStatus.PROCESSING.value, processing_by=None, status_detail=detail,
                        redrive_count=orders.c.redrive_count + 1, next_attempt_at=at,
                        version=orders.c.version + 1, updated_at=at, updated_by=self._system_actor)
            ).rowcount
            if changed != 1:
                return False
            conn.execute(order_status_history.insert().values(
                order_key=order_key, status=OrderStatus.PROCESSING.value, detail=detail, created_at=at))
        return True

    def due_for_redrive(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        """Parked orders whose next attempt is due: (order_key, redrive_count), oldest due first."""
        query = (
            sa.select(orders.c.order_key, orders.c.redrive_count)
            .where(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by.is_(None),
                   orders.c.next_attempt_at <= to_db_time(now))
            .order_by(orders.c.next_attempt_at).limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r.order_key, r.redrive_count) for r in conn.execute(query)]

    def postpone(self, order_key: str, until: datetime) -> None:
        """A re-drive message is on its way: do not send another before `until`."""
        with self._write("postpone") as conn:
            conn.execute(orders.update()
                         .where(orders.c.order_key == order_key, orders.c.processing_by.is_(None))
                         .values(next_attempt_at=to_db_time(until)))

    def bump_redrive(self, order_key: str, now: datetime, next_attempt_at: datetime) -> int | None:
        """A parked order is re-driven under a new attempt number (a fresh execution name); returns it."""
        with self._write("bump_redrive") as conn:
            changed = conn.execute(
                orders.update()
                .where(orders.c.order_key == order_key, orders.c.status == OrderStatus.PROCESSING.value,
                       orders.c.processing_by.is_(None))
                .values(redrive_count=orders.c.redrive_count + 1, next_attempt_at=to_db_time(next_attempt_at),
                        updated_at=to_db_time(now), updated_by=self._system_actor)
            ).rowcount
            if changed != 1:
                return None
            return conn.execute(sa.select(orders.c.redrive_count).where(orders.c.order_key == order_key)).scalar_one()

    def stale_orders(self, status: OrderStatus, updated_before: datetime, limit: int) -> list[tuple[str, str | None]]:
        """(order_key, processing_by) of orders in `status` untouched since `updated_before`."""
        query = (
            sa.select(orders.c.order_key, orders.c.processing_by)
            .where(orders.c.status == OrderStatus(status).value, orders.c.updated_at < to_db_time(updated_before))
            .order_by(orders.c.updated_at).limit(limit)
        )
        with self._engine.connect() as conn:
            return [(r.order_key, r.processing_by) for r in conn.execute(query)]

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]:
        query = (
            sa.select(outbox)
            .where(outbox.c.order_key == order_key, outbox.c.published_at.is_(None))
            .order_by(outbox.c.created_at, outbox.c.message_id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_outbox_message(r) for r in rows]


def _outbox_message(r: Any) -> OutboxMessage:
    return OutboxMessage(message_id=r.message_id, order_key=r.order_key, queue=r.queue, body=r.body,
                         created_at=from_db_time(r.created_at), published_at=from_db_time(r.published_at),
                         attempts=r.attempts)


def _participant_row(order_key: str, position: int, p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "order_key": order_key,
        "party_position": position,
        "cpf": p["cpf"],
        "name": p.get("name"),
        "email": p.get("email"),
        "phone": p.get("phone"),
        "groups": dumps(list(p.get("groups") or [])),
        # No default for the two flags: a participant of unknown standing must not look eligible.
        "restricted": bool(p["restricted"]),
        "active": bool(p["active"]),
        "reasons": dumps(list(p.get("reasons") or [])),
        "joint_only": bool(p.get("joint_only", False)),
    }


def _rule_row(order_key: str, position: int, r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "order_key": order_key,
        "party_position": position,
        "rule_id": r["rule_id"],
        "description": r.get("description"),
        "max_amount": _amount_or_none(r.get("max_amount")),
        "requirements": dumps(list(r.get("requirements") or [])),
        "applicable": bool(r["applicable"]),
        "satisfied": bool(r["satisfied"]),
    }
