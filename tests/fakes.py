"""In-memory fakes of AME's own ports, for unit tests of the services."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.adapters.db.base import to_db_time
from chalicelib.adapters.db.workflow_store import (
    PROCESSING_DETAIL,
    UnknownParty,
    check_unique,
    participant_detail,
    participant_row,
    rule_detail,
    rule_row,
)
from chalicelib.adapters.jsontext import dumps
from chalicelib.domain.orders import (
    OrderDraft,
    OrderStatus,
    StatusChange,
    StoredOrder,
    stored_from_draft,
)
from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.services.delivery import suppression_note
from chalicelib.services.ports import (
    CREATION_QUEUE,
    Claim,
    ClaimOutcome,
    ClaimRequest,
    ClaimState,
    IdempotencyKeyTaken,
    NotificationCap,
    OrderStamp,
    OutboxMessage,
    PartnerUnavailable,
    Settlement,
    SimulationRecord,
)


class FixedClock:
    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class InMemoryOrderRepository:
    """SqlOrderRepository in memory, rule for rule: the same compare-and-set conditions, the same stored
    forms (times in UTC, naive ones refused; JSON columns round-tripped; amounts to the cent) and the same
    history rows. tests/integration/test_repository.py runs one contract suite over this fake, SQLite and
    MariaDB, and checks that its public methods have the real adapter's signatures."""

    def __init__(self, on_status_change: Callable[[str], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._on_status_change = on_status_change
        self.orders: dict[str, StoredOrder] = {}
        self.histories: dict[str, list[StatusChange]] = {}
        self.outbox: dict[str, OutboxMessage] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        self.fail_next_create: Exception | None = None
        self.artifacts: dict[tuple[str, int, str], str] = {}
        # (order_key, position) -> verdict columns, participant rows and rule rows, as the tables hold them
        self.evaluations: dict[tuple[str, int], dict[str, Any]] = {}

    def ping(self) -> None:
        return None

    # -- OrderWriter -----------------------------------------------------------------------------
    def create_order(self, draft: OrderDraft, outbox: OutboxMessage) -> None:
        created_at = _utc(draft.created_at)
        message = _stored_message(outbox)
        if not any(p.position == 0 for p in draft.parties):
            raise ValueError(f"order {draft.order_key} has no requester (party at position 0)")
        with self._lock:
            if self.fail_next_create is not None:
                exc, self.fail_next_create = self.fail_next_create, None
                raise exc
            if draft.idempotency_key is not None:
                key = (draft.created_by, draft.idempotency_key)
                if key in self.idempotency:
                    raise IdempotencyKeyTaken(draft.idempotency_key)
                self.idempotency[key] = (draft.order_key, draft.request_hash or "")
            order = stored_from_draft(draft)
            self.orders[draft.order_key] = order.model_copy(
                update={
                    "amount": order.amount.quantize(CENT),
                    "area_snapshot": _json(draft.area_snapshot),
                    "created_at": created_at,
                    "updated_at": created_at,
                    "requester": min(draft.parties, key=lambda p: p.position),
                    "guarantors": sorted((p for p in draft.parties if p.position != 0), key=lambda p: p.position),
                }
            )
            self.histories[draft.order_key] = [StatusChange(status=OrderStatus.RECEIVED, at=created_at)]
            self.outbox[message.message_id] = message

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        return self.idempotency.get((caller, key))

    def transition(
        self,
        order_key: str,
        expected: Iterable[OrderStatus],
        new: OrderStatus,
        now: datetime,
        detail: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        expected_set = {OrderStatus(s) for s in expected}
        if not expected_set:
            return False
        extra = {} if result is None else {"result": _json(result)}
        return self._change_status(order_key, lambda o: o.status in expected_set, new, detail, _utc(now), **extra)

    # -- OrderReader -----------------------------------------------------------------------------
    def get_order(self, order_key: str) -> StoredOrder | None:
        order = self.orders.get(order_key)
        return copy.deepcopy(order) if order else None

    def order_stamp(self, order_key: str) -> OrderStamp | None:
        order = self.orders.get(order_key)
        if order is None:
            return None
        return OrderStamp(order.status, order.version, order.updated_at, order.area_code)

    def history(self, order_key: str) -> list[StatusChange]:
        return list(self.histories.get(order_key, []))

    # -- OutboxStore -----------------------------------------------------------------------------
    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]:
        before = _utc(created_before)
        return self._pending(lambda m: m.created_at < before)[:limit]

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]:
        return self._pending(lambda m: m.order_key == order_key)

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None:
        if not message_ids:
            return
        self._publish(lambda m: m.message_id in set(message_ids), _utc(now))

    def mark_creation_delivered(self, order_key: str, now: datetime) -> None:
        self._publish(lambda m: m.order_key == order_key and m.queue == CREATION_QUEUE, _utc(now))

    # -- WorkflowStore and PartyDetailsReader --------------------------------------------------------
    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome:
        """RECEIVED -> PROCESSING owned by `execution_id`, by compare-and-set."""
        at = _utc(now)
        with self._lock:
            if self._change_status(
                order_key,
                lambda o: o.status is OrderStatus.RECEIVED or o.parked,
                OrderStatus.PROCESSING,
                PROCESSING_DETAIL,
                at,
                processing_by=execution_id,
                next_attempt_at=None,
                parked_on=None,
            ):
                self.mark_creation_delivered(order_key, at)
                return ClaimOutcome.CLAIMED
            order = self.orders.get(order_key)
        if order is None:
            return ClaimOutcome.MISSING
        if order.status is OrderStatus.PROCESSING:
            return ClaimOutcome.RESUMED if order.processing_by == execution_id else ClaimOutcome.BUSY
        return ClaimOutcome.TERMINAL if order.status.terminal else ClaimOutcome.BUSY

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        _utc(now)
        with self._lock:
            self.artifacts[(order_key, position, kind)] = dumps(payload)

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]:
        return {k: json.loads(v) for (o, p, k), v in list(self.artifacts.items()) if o == order_key and p == position}

    def artifacts_of_kind(self, order_key: str, kind: str) -> dict[int, Any]:
        return {p: json.loads(v) for (o, p, k), v in list(self.artifacts.items()) if o == order_key and k == kind}

    def save_party_evaluation(
        self,
        order_key: str,
        position: int,
        *,
        quorum_met: bool | None,
        reason: str | None,
        evaluation: dict[str, Any],
        participants: Sequence[Mapping[str, Any]],
        rules: Sequence[Mapping[str, Any]],
        verdict: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        if verdict is not None and now is None:
            raise ValueError("a verdict artifact needs its time (now)")
        participant_rows = [participant_row(order_key, position, p) for p in participants]
        rule_rows = [rule_row(order_key, position, r) for r in rules]
        check_unique(order_key, position, participant_rows, rule_rows)
        with self._lock:
            order = self.orders.get(order_key)
            if order is None or all(p.position != position for p in order.parties):
                raise UnknownParty(f"{order_key} has no party at position {position}")
            self.evaluations[(order_key, position)] = {
                "quorum_met": quorum_met,
                "reason": reason,
                "evaluation": dumps(evaluation),
                "participants": participant_rows,
                "rules": rule_rows,
            }
            if verdict is not None and now is not None:
                _utc(now)
                self.artifacts[(order_key, position, "verdict")] = dumps(verdict)

    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]:
        order = self.orders.get(order_key)
        if order is None:
            return {}
        details: dict[int, dict[str, Any]] = {}
        for party in order.parties:
            saved = self.evaluations.get((order_key, party.position), {})
            details[party.position] = {
                "position": party.position,
                "role": party.role.value,
                "person_type": party.person_type.value,
                "document": party.document,
                "power_code": party.power_code,
                "quorum_met": None if saved.get("quorum_met") is None else bool(saved["quorum_met"]),
                "reason": saved.get("reason"),
                "evaluation": json.loads(saved["evaluation"]) if saved.get("evaluation") is not None else None,
                "participants": [
                    participant_detail(r) for r in sorted(saved.get("participants", []), key=lambda r: r["cpf"])
                ],
                "rules": [rule_detail(r) for r in sorted(saved.get("rules", []), key=lambda r: r["rule_id"])],
            }
        return details

    def conclude(
        self,
        order_key: str,
        execution_id: str,
        status: OrderStatus,
        now: datetime,
        detail: str | None,
        result: dict[str, Any] | None,
        event: OutboxMessage,
    ) -> bool:
        at = _utc(now)
        message = _stored_message(event).model_copy(update={"published_at": None, "attempts": 0})
        detail = detail[:500] if detail else detail

        def owned_or_unclaimed(o: StoredOrder) -> bool:
            return (
                o.status is OrderStatus.PROCESSING and o.processing_by == execution_id
            ) or o.status is OrderStatus.RECEIVED

        with self._lock:
            if not self._change_status(
                order_key,
                owned_or_unclaimed,
                status,
                detail,
                at,
                next_attempt_at=None,
                parked_on=None,
                result=None if result is None else _json(result),
            ):
                return False
            self.outbox[message.message_id] = message
            return True

    # -- RedriveStore ------------------------------------------------------------------------------
    def park(
        self,
        order_key: str,
        execution_id: str,
        now: datetime,
        detail: str,
        next_attempt_at: datetime,
        parked_on: str | None = None,
    ) -> bool:
        at, next_at = _utc(now), _utc(next_attempt_at)
        with self._lock:
            order = self.orders.get(order_key)
            first = order.first_failure_at if order is not None and order.first_failure_at else at
            return self._change_status(
                order_key,
                lambda o: o.status is OrderStatus.PROCESSING and o.processing_by == execution_id,
                OrderStatus.PROCESSING,
                detail[:500],
                at,
                processing_by=None,
                redrive_count=(order.redrive_count + 1) if order is not None else 1,
                first_failure_at=first,
                next_attempt_at=next_at,
                parked_on=parked_on,
            )

    def release(self, order_key: str, owner: str | None, now: datetime, detail: str) -> bool:
        at = _utc(now)

        def stuck(o: StoredOrder) -> bool:
            if owner is None:
                return o.status is OrderStatus.RECEIVED
            return o.status is OrderStatus.PROCESSING and o.processing_by == owner

        with self._lock:
            order = self.orders.get(order_key)
            count = (order.redrive_count + 1) if order is not None else 1
            return self._change_status(
                order_key,
                stuck,
                OrderStatus.PROCESSING,
                detail[:500],
                at,
                processing_by=None,
                redrive_count=count,
                next_attempt_at=at,
                parked_on=None,
            )

    def due_for_redrive(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        at = _utc(now)
        due = [
            o
            for o in list(self.orders.values())
            if o.parked and o.next_attempt_at is not None and o.next_attempt_at <= at
        ]
        return [(o.order_key, o.redrive_count) for o in sorted(due, key=lambda o: o.next_attempt_at)[:limit]]

    def postpone(self, order_key: str, until: datetime) -> None:
        at = _utc(until)
        with self._lock:
            order = self.orders.get(order_key)
            if order is not None and order.processing_by is None:
                self.orders[order_key] = order.model_copy(update={"next_attempt_at": at})

    def bump_redrive(self, order_key: str, now: datetime, next_attempt_at: datetime) -> int | None:
        at, next_at = _utc(now), _utc(next_attempt_at)
        with self._lock:
            order = self.orders.get(order_key)
            if order is None or not order.parked:
                return None
            self.orders[order_key] = order.model_copy(
                update={"redrive_count": order.redrive_count + 1, "next_attempt_at": next_at, "updated_at": at}
            )
            return order.redrive_count + 1

    def stale_orders(self, status: OrderStatus, updated_before: datetime, limit: int) -> list[tuple[str, str | None]]:
        before = _utc(updated_before)
        stale = [o for o in list(self.orders.values()) if o.status is OrderStatus(status) and o.updated_at < before]
        return [(o.order_key, o.processing_by) for o in sorted(stale, key=lambda o: o.updated_at)[:limit]]

    def parked_partners(self) -> list[str]:
        return sorted({o.parked_on for o in list(self.orders.values()) if o.parked and o.parked_on is not None})

    def parked_on(self, partner: str, limit: int) -> list[str]:
        waiting = [o for o in list(self.orders.values()) if o.parked and o.parked_on == partner]
        waiting.sort(key=lambda o: (o.next_attempt_at is not None, o.next_attempt_at, o.order_key))
        return [o.order_key for o in waiting[:limit]]

    def resume_parked(self, order_key: str, partner: str, now: datetime, next_attempt_at: datetime) -> int | None:
        at, next_at = _utc(now), _utc(next_attempt_at)
        with self._lock:
            order = self.orders.get(order_key)
            if order is None or not order.parked or order.parked_on != partner:
                return None
            self.orders[order_key] = order.model_copy(
                update={
                    "redrive_count": order.redrive_count + 1,
                    "next_attempt_at": next_at,
                    "parked_on": None,
                    "updated_at": at,
                }
            )
            return order.redrive_count + 1

    # -- the one status change (SqlStore._change_status) -----------------------------------------------
    def _change_status(
        self,
        order_key: str,
        when: Callable[[StoredOrder], bool],
        status: OrderStatus,
        detail: str | None,
        at: datetime,
        **values: Any,
    ) -> bool:
        with self._lock:
            order = self.orders.get(order_key)
            if order is None or not when(order):
                return False
            self.orders[order_key] = order.model_copy(
                update={
                    "status": OrderStatus(status),
                    "status_detail": detail,
                    "version": order.version + 1,
                    "updated_at": at,
                    **values,
                }
            )
            self.histories[order_key].append(StatusChange(status=OrderStatus(status), detail=detail, at=at))
        if self._on_status_change is not None:
            self._on_status_change(order_key)
        return True

    def _pending(self, keep: Callable[[OutboxMessage], bool]) -> list[OutboxMessage]:
        pending = [m for m in list(self.outbox.values()) if m.published_at is None and keep(m)]
        return sorted(pending, key=lambda m: (m.created_at, m.message_id))

    def _publish(self, which: Callable[[OutboxMessage], bool], at: datetime) -> None:
        with self._lock:
            for mid, m in list(self.outbox.items()):
                if m.published_at is None and which(m):
                    self.outbox[mid] = m.model_copy(update={"published_at": at, "attempts": m.attempts + 1})


CENT = Decimal("0.01")


def _utc(value: datetime) -> datetime:
    """As the database keeps it: UTC; a naive time is refused as the SQL adapter refuses it."""
    return to_db_time(value).replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    """A JSON column's value as read back (Decimals become strings)."""
    return json.loads(dumps(value))


def _stored_message(message: OutboxMessage) -> OutboxMessage:
    return message.model_copy(
        update={
            "created_at": _utc(message.created_at),
            "published_at": None if message.published_at is None else _utc(message.published_at),
        }
    )


@dataclass
class DeliveryRow:
    """One row of order_deliveries."""

    order_key: str
    channel: str
    kind: str
    target: str | None
    status: str = "PENDING"
    attempts: int = 0
    lease_until: datetime | None = None
    last_error: str | None = None
    message_id: str | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class InMemoryDeliveryRepository:
    """SqlDeliveryRepository in memory, rule for rule (tests/integration/test_delivery_repository.py runs its
    suite over both): leases, attempts, once-only give-up with one history row on the order."""

    def __init__(self, orders: InMemoryOrderRepository) -> None:
        self._orders = orders
        self._lock = threading.RLock()
        self.rows: dict[tuple[str, str], DeliveryRow] = {}

    def order_contexts(self, order_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = {k: self._orders.orders[k] for k in order_keys if k in self._orders.orders}
        return {
            k: {
                "order_key": k,
                "status": o.status.value,
                "area_code": o.area_code,
                "area_snapshot": o.area_snapshot or {},
            }
            for k, o in found.items()
        }

    def claim_many(
        self,
        requests: Sequence[ClaimRequest],
        now: datetime,
        lease_seconds: float,
        cap: NotificationCap | None = None,
    ) -> list[Claim]:
        if not requests:
            return []
        at = _utc(now)
        until = at + timedelta(seconds=lease_seconds)
        with self._lock:
            before = {key: copy.copy(row) for key, row in self.rows.items()}  # what the transaction reads
            sent: dict[str, int] = {}
            if cap is not None:
                since = at - timedelta(seconds=cap.window_seconds)
                for row in before.values():
                    recent = row.first_attempt_at is not None and row.first_attempt_at >= since
                    if row.kind == "NOTIFICATION" and row.status in ("PENDING", DELIVERED) and recent:
                        sent[row.channel] = sent.get(row.channel, 0) + 1
            claims: list[Claim | None] = [None] * len(requests)
            taken: set[tuple[str, str]] = set()
            for i in sorted(range(len(requests)), key=lambda i: (requests[i].order_key, requests[i].channel)):
                request = requests[i]
                key = (request.order_key, request.channel)
                row = before.get(key)
                live = self.rows.get(key)
                if key in taken:
                    claims[i] = Claim(ClaimState.BUSY, 1 if row is None else row.attempts + 1, until)
                elif (
                    row is None
                    and cap is not None
                    and request.kind == "NOTIFICATION"
                    and sent.get(request.channel, 0) >= cap.limit
                ):
                    self.rows[key] = DeliveryRow(
                        request.order_key,
                        request.channel,
                        request.kind,
                        request.target[:500] if request.target else None,
                        status="SUPPRESSED",
                        last_error=suppression_note(cap),
                        first_attempt_at=at,
                    )
                    claims[i] = Claim(ClaimState.SUPPRESSED, 0)
                    taken.add(key)
                elif row is None:
                    sent[request.channel] = sent.get(request.channel, 0) + 1
                    self.rows[key] = DeliveryRow(
                        request.order_key,
                        request.channel,
                        request.kind,
                        request.target[:500] if request.target else None,
                        attempts=1,
                        lease_until=until,
                        first_attempt_at=at,
                        last_attempt_at=at,
                    )
                    claims[i] = Claim(ClaimState.CLAIMED, 1, until)
                elif row.status == DELIVERED:
                    claims[i] = Claim(ClaimState.DELIVERED, row.attempts)
                elif row.status == "SUPPRESSED":
                    claims[i] = Claim(ClaimState.SUPPRESSED, row.attempts)
                elif (
                    live is not None
                    and live.status != DELIVERED
                    and (live.lease_until is None or live.lease_until <= at)
                ):
                    live.attempts += 1
                    live.lease_until, live.last_attempt_at = until, at
                    live.first_attempt_at = live.first_attempt_at or at
                    claims[i] = Claim(ClaimState.CLAIMED, row.attempts + 1, until)
                else:
                    claims[i] = Claim(ClaimState.BUSY, row.attempts, row.lease_until)
                if claims[i].state == ClaimState.CLAIMED:
                    taken.add(key)
            return [c for c in claims if c is not None]

    def settle(self, settlement: Settlement) -> None:
        s = settlement
        with self._lock:
            row = self.rows.get((s.order_key, s.channel))
            if row is None or row.status == DELIVERED:
                return
            if s.delivered:
                row.status, row.delivered_at, row.lease_until, row.last_error = DELIVERED, _utc(s.at), None, None
                row.message_id = s.message_id[:128] if s.message_id else row.message_id
            elif s.history_detail is None:
                row.lease_until, row.last_error = None, (s.error or "")[:500]
            elif row.status == "PENDING":
                row.status, row.lease_until, row.last_error = "FAILED", None, (s.error or "")[:500]
                self._record_history(s.order_key, (s.history_detail or "")[:500], _utc(s.at))

    def for_order(self, order_key: str) -> list[dict[str, Any]]:
        rows = sorted(
            (r for r in list(self.rows.values()) if r.order_key == order_key), key=lambda r: (r.kind, r.channel)
        )
        return [
            {
                "channel": r.channel,
                "kind": r.kind,
                "target": r.target,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "message_id": r.message_id,
                "first_attempt_at": r.first_attempt_at,
                "last_attempt_at": r.last_attempt_at,
                "delivered_at": r.delivered_at,
            }
            for r in rows
        ]

    def _record_history(self, order_key: str, detail: str, at: datetime) -> None:
        """A failed delivery is logged under the order's current status."""
        with self._orders._lock:
            status = self._orders.orders[order_key].status
            self._orders.histories[order_key].append(StatusChange(status=status, detail=detail, at=at))


DELIVERED = "DELIVERED"


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.delays: list[int] = []  # delay_seconds of each sent message, in the order of `sent`
        self.fail_with: Exception | None = None

    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((queue, body))
        self.delays.append(delay_seconds)
        return f"msg-{len(self.sent)}"


class FakeStarter:
    """The WorkflowStarter port: records starts; `running` holds the executions that are still alive."""

    def __init__(self, running: Iterable[str] = ()) -> None:
        self.running = set(running)
        self.started: list[tuple[str, str | None]] = []

    def start(self, order_key: str, payload: dict[str, Any], execution_name: str | None = None) -> bool:
        self.started.append((order_key, execution_name))
        return True

    def is_running(self, execution_arn: str) -> bool:
        return execution_arn in self.running


class StaticAreas:
    def __init__(self, areas: dict[str, AreaSettings], fail: bool = False):
        self.areas, self.fail, self.calls = areas, fail, 0

    def get_area(self, area_code: str) -> AreaSettings | None:
        self.calls += 1
        if self.fail:
            raise PartnerUnavailable("parametrizador", "down")
        return self.areas.get(area_code)


class StaticDomains:
    def __init__(self, domains: dict[str, DomainValues], fail: bool = False):
        self.domains, self.fail, self.calls = domains, fail, 0

    def get_domain(self, name: str) -> DomainValues | None:
        self.calls += 1
        if self.fail:
            raise PartnerUnavailable("dominios", "down")
        return self.domains.get(name)


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get_json(self, key: str) -> Any | None:
        return copy.deepcopy(self.data.get(key))

    def set_json(self, key: str, value: Any, ttl_seconds: float) -> None:
        self.data[key] = copy.deepcopy(value)


class FakePowers:
    def __init__(self, by_cnpj: dict[str, Any] | None = None):
        from chalicelib.domain.partners import CompanyPowers

        self.by_cnpj = {k: CompanyPowers.model_validate(v) for k, v in (by_cnpj or {}).items()}
        self.calls: list[tuple[str, str]] = []
        self.fail: Exception | None = None

    def get_powers(self, cnpj: str, power_code: str):
        self.calls.append((cnpj, power_code))
        if self.fail is not None:
            raise self.fail
        return self.by_cnpj.get(cnpj)


class FakePeople:
    def __init__(self, people: list[dict[str, Any]] | None = None):
        from chalicelib.domain.partners import Person

        self.people = {p["cpf"]: Person.model_validate(p) for p in (people or [])}
        self.calls: list[list[str]] = []

    def search(self, cpfs: list[str]):
        self.calls.append(list(cpfs))
        return [self.people[c] for c in cpfs if c in self.people]


class FakeOperators:
    def __init__(self, operators: dict[str, list[dict[str, Any]]] | None = None):
        from chalicelib.domain.partners import Operator

        self.operators = {k: {o["cpf"]: Operator.model_validate(o) for o in v} for k, v in (operators or {}).items()}
        self.calls: list[tuple[str, str, list[str]]] = []

    def search(self, cnpj: str, platform: str, cpfs: list[str]):
        self.calls.append((cnpj, platform, list(cpfs)))
        known = self.operators.get(cnpj, {})
        return [known[c] for c in cpfs if c in known]


class InMemoryJobLease:
    """The JobLease port (chalicelib/adapters/db/retention.py SqlRetentionStore) in memory; the lease contract
    suite (tests/integration/test_job_lease.py) runs over this and the SQL store."""

    def __init__(self) -> None:
        self._leases: dict[str, tuple[str | None, datetime]] = {}
        self._lock = threading.Lock()

    def acquire_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        with self._lock:
            current = self._leases.get(name)
            if current is None or current[0] is None or current[1] <= now or current[0] == holder:
                self._leases[name] = (holder, until)
                return True
            return False

    def release_lease(self, name: str, holder: str, now: datetime) -> None:
        with self._lock:
            current = self._leases.get(name)
            if current is not None and current[0] == holder:
                self._leases[name] = (None, now)


class InMemoryRetentionStore(InMemoryJobLease):
    """The RetentionStore and JobLease ports over in-memory tables (rows as dicts, times timezone-aware).
    `tests/integration/test_retention_contract.py` runs the same scenarios over this fake, SQLite and MariaDB."""

    CHILDREN = (
        "parties",
        "participants",
        "rules",
        "documents",
        "history",
        "partner_calls",
        "deliveries",
        "artifacts",
        "outbox",
        "idempotency_keys",
    )

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {name: [] for name in self.CHILDREN}
        self.watermark: datetime | None = None
        self.cursors: dict[str, tuple[datetime, str]] = {}
        self.archives: dict[str, Any] = {}
        self.archived_orders: dict[str, str] = {}

    # -- helpers ---------------------------------------------------------------------------------------
    def _terminal_exported(self, key: str, wm: datetime | None) -> bool:
        from chalicelib.domain.retention import TERMINAL

        order = self.orders.get(key)
        return bool(order and wm is not None and order["status"] in TERMINAL and order["updated_at"] <= wm)

    @staticmethod
    def _own(rule: Any) -> tuple[str, tuple[str, ...]]:
        if rule.value == "idempotency_keys":
            return "idempotency_keys", ("created_at", "caller", "idempotency_key")
        return "outbox", ("published_at", "created_at", "message_id")

    def exported_until(self) -> datetime | None:
        return self.watermark

    def purge_own_time(self, rule: Any, cutoff: datetime, exported_until: datetime, position: Any, limit: int):
        from chalicelib.services.ports import Batch

        table, keyset = self._own(rule)
        rows = sorted(
            (r for r in self.children[table] if r[keyset[0]] is not None and r[keyset[0]] < cutoff),
            key=lambda r: tuple(r[c] for c in keyset),
        )
        if position is not None:
            rows = [r for r in rows if tuple(r[c] for c in keyset) > tuple(position)]
        rows = rows[:limit]
        if not rows:
            return Batch(rows=0, position=position, done=True)
        doomed = [r for r in rows if self._terminal_exported(r["order_key"], exported_until)]
        self.children[table] = [r for r in self.children[table] if not any(r is d for d in doomed)]
        return Batch(rows=len(doomed), position=tuple(rows[-1][c] for c in keyset), done=len(rows) < limit)

    def count_own_time(self, rule: Any, cutoff: datetime, exported_until: datetime | None):
        table, keyset = self._own(rule)
        rows = [
            r[keyset[0]]
            for r in self.children[table]
            if r[keyset[0]] is not None
            and r[keyset[0]] < cutoff
            and self._terminal_exported(r["order_key"], exported_until)
        ]
        return len(rows), min(rows) if rows else None

    def cursor(self, rule: Any):
        return self.cursors.get(rule.value)

    def set_cursor(self, rule: Any, position: tuple[datetime, str]) -> None:
        self.cursors[rule.value] = position

    def orders_after_verdict(self, after, until: datetime, exported_until: datetime, limit: int):
        from chalicelib.services.ports import CandidateOrder

        rows = sorted(
            (o for o in self.orders.values() if o["updated_at"] < until and o["updated_at"] <= exported_until),
            key=lambda o: (o["updated_at"], o["order_key"]),
        )
        if after is not None:
            rows = [o for o in rows if (o["updated_at"], o["order_key"]) > tuple(after)]
        return [CandidateOrder(o["order_key"], o["status"], o["updated_at"]) for o in rows[:limit]]

    def _touched(self, rule: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
        table = {"party_artifacts": "artifacts", "order_participants": "participants"}.get(rule.value, "deliveries")
        rows = [r for r in self.children[table] if r["order_key"] in set(keys)]
        if table == "participants":
            rows = [r for r in rows if r["email"] is not None or r["phone"] is not None]
        return rows

    def child_rows(self, rule: Any, order_keys: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._touched(rule, order_keys):
            out[r["order_key"]] = out.get(r["order_key"], 0) + 1
        return out

    def apply_after_verdict(self, rule: Any, order_keys: Sequence[str]) -> int:
        from chalicelib.domain.retention import TERMINAL

        keys = [k for k in order_keys if k in self.orders and self.orders[k]["status"] in TERMINAL]
        rows = self._touched(rule, keys)
        if rule.value == "order_participants":
            for r in rows:
                r["email"] = r["phone"] = None
        else:
            table = "artifacts" if rule.value == "party_artifacts" else "deliveries"
            self.children[table] = [r for r in self.children[table] if not any(r is d for d in rows)]
        return len(rows)

    def count_after_verdict(self, rule: Any, after, until: datetime, exported_until: datetime | None):
        if exported_until is None:
            return 0, None
        keys = [c.order_key for c in self.orders_after_verdict(after, until, exported_until, 10**9)]
        rows = [r for r in self._touched(rule, keys) if self._terminal_exported(r["order_key"], exported_until)]
        oldest = [self.orders[r["order_key"]]["updated_at"] for r in rows]
        return len(rows), min(oldest) if oldest else None

    def next_archive_day(self, after, before):
        days = sorted(
            o["created_at"].date()
            for o in self.orders.values()
            if o["created_at"].date() < before and (after is None or o["created_at"].date() > after)
        )
        return days[0] if days else None

    def day_blockers(self, day, cutoff: datetime, exported_until: datetime) -> int:
        return sum(
            1
            for o in self.orders.values()
            if o["created_at"].date() == day
            and not (self._terminal_exported(o["order_key"], exported_until) and o["updated_at"] < cutoff)
        )

    def day_orders(self, day, limit: int) -> list[str]:
        return sorted(k for k, o in self.orders.items() if o["created_at"].date() == day)[:limit]

    def order_records(self, order_keys: Sequence[str]) -> list[dict[str, Any]]:
        def plain(row: dict[str, Any]) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}

        return [
            {
                "order": plain(self.orders[k]),
                **{n: [plain(r) for r in self.children[n] if r["order_key"] == k] for n in self.CHILDREN},
            }
            for k in sorted(set(order_keys))
            if k in self.orders
        ]

    def record_archive(self, part: Any, order_keys: Sequence[str], now: datetime) -> None:
        if part.object_key in self.archives or any(k in self.archived_orders for k in order_keys):
            raise ValueError("duplicate archive row")
        self.archives[part.object_key] = part
        self.archived_orders.update({k: part.object_key for k in order_keys})

    def pending_archives(self):
        return [p for p in sorted(self.archives.values(), key=lambda p: p.object_key) if p.state == "ARCHIVED"]

    def delete_orders(self, order_keys: Sequence[str]) -> dict[str, int]:
        from chalicelib.domain.retention import TERMINAL

        keys = {k for k in order_keys if k in self.orders and self.orders[k]["status"] in TERMINAL}
        counts: dict[str, int] = {}
        for name in self.CHILDREN:
            before = len(self.children[name])
            self.children[name] = [r for r in self.children[name] if r["order_key"] not in keys]
            counts[name] = before - len(self.children[name])
        for k in keys:
            del self.orders[k]
        counts["orders"] = len(keys)
        return counts

    def mark_deleted(self, object_key: str, now: datetime) -> None:
        import dataclasses

        self.archives[object_key] = dataclasses.replace(self.archives[object_key], state="DELETED")

    def count_orders_due(self, before, cutoff: datetime, exported_until: datetime | None):
        rows = [
            o["created_at"]
            for o in self.orders.values()
            if o["created_at"].date() < before
            and o["updated_at"] < cutoff
            and self._terminal_exported(o["order_key"], exported_until)
        ]
        return len(rows), min(rows) if rows else None

    def archived_object(self, order_key: str) -> str | None:
        return self.archived_orders.get(order_key)


class InMemorySimulationJournal:
    """The what-if audit in a list, with SqlSimulationJournal's contract (tests/integration/test_simulation_journal.py)."""

    def __init__(self) -> None:
        self.entries: list[SimulationRecord] = []
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    def record(self, entry: SimulationRecord) -> None:
        if self.fail is not None:
            raise self.fail
        if entry.simulated_at.tzinfo is None:
            raise ValueError(f"datetime must be timezone-aware: {entry.simulated_at!r}")
        stored = replace(
            entry,
            simulated_at=_utc(entry.simulated_at),
            amount=entry.amount.quantize(Decimal("0.01")),
        )
        with self._lock:
            self.entries.append(stored)

    def recent(
        self,
        *,
        area_code: str | None = None,
        client_id: str | None = None,
        company: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SimulationRecord]:
        with self._lock:
            numbered = list(enumerate(self.entries))
        found = [
            (i, e)
            for i, e in numbered
            if (area_code is None or e.area_code == area_code)
            and (client_id is None or e.client_id == client_id)
            and (company is None or e.company == company)
            and (since is None or e.simulated_at >= _utc(since))
        ]
        found.sort(key=lambda pair: (pair[1].simulated_at, pair[0]), reverse=True)
        return [e for _, e in found[: max(1, limit)]]


class FakeRateLimiter:
    """The RateLimiter port in memory on a clock the test moves (the domain's bucket arithmetic), recording
    every bucket asked for; tests/integration/test_rate_limiter.py runs the same contract over it and Redis."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.asked: list[str] = []
        self._lock = threading.Lock()
        self._states: dict[str, Any] = {}

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def acquire(self, bucket: str, limit: Any) -> Any:
        from chalicelib.domain.throttling import take

        with self._lock:
            self.asked.append(bucket)
            self._states[bucket], decision = take(self._states.get(bucket), self.now, limit)
            return decision
