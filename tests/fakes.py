"""In-memory fakes of AME's own ports, for unit tests of the services."""
from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from chalicelib.domain.orders import (
    OrderDraft,
    OrderStatus,
    StatusChange,
    StoredOrder,
    stored_from_draft,
)
from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.services.ports import ClaimOutcome, IdempotencyKeyTaken, OutboxMessage, PartnerUnavailable


class FixedClock:
    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class InMemoryOrderRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.orders: dict[str, StoredOrder] = {}
        self.histories: dict[str, list[StatusChange]] = {}
        self.outbox: dict[str, OutboxMessage] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        self.fail_next_create: Exception | None = None
        self.owners: dict[str, str] = {}
        self.artifacts: dict[tuple[str, int, str], Any] = {}
        self.evaluations: dict[tuple[str, int], dict[str, Any]] = {}

    def create_order(self, draft: OrderDraft, outbox: OutboxMessage) -> None:
        with self._lock:
            if self.fail_next_create is not None:
                exc, self.fail_next_create = self.fail_next_create, None
                raise exc
            if draft.idempotency_key is not None:
                key = (draft.created_by, draft.idempotency_key)
                if key in self.idempotency:
                    raise IdempotencyKeyTaken(key)
                self.idempotency[key] = (draft.order_key, draft.request_hash or "")
            self.orders[draft.order_key] = stored_from_draft(draft)
            self.histories[draft.order_key] = [StatusChange(status=OrderStatus.RECEIVED, at=draft.created_at)]
            self.outbox[outbox.message_id] = outbox

    def get_order(self, order_key: str) -> StoredOrder | None:
        order = self.orders.get(order_key)
        return copy.deepcopy(order) if order else None

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        return self.idempotency.get((caller, key))

    def history(self, order_key: str) -> list[StatusChange]:
        return list(self.histories.get(order_key, []))

    def transition(self, order_key: str, expected: Iterable[OrderStatus], new: OrderStatus, now: datetime,
                   detail: str | None = None, result: dict[str, Any] | None = None) -> bool:
        with self._lock:
            order = self.orders.get(order_key)
            if order is None or order.status not in set(expected):
                return False
            update: dict[str, Any] = {"status": new, "status_detail": detail, "updated_at": now,
                                      "version": order.version + 1}
            if result is not None:
                update["result"] = result
            self.orders[order_key] = order.model_copy(update=update)
            self.histories[order_key].append(StatusChange(status=new, detail=detail, at=now))
            return True

    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]:
        pending = [m for m in self.outbox.values() if m.published_at is None and m.created_at < created_before]
        return sorted(pending, key=lambda m: m.created_at)[:limit]

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None:
        for mid in message_ids:
            self.outbox[mid] = self.outbox[mid].model_copy(update={"published_at": now})

    def mark_creation_delivered(self, order_key: str, now: datetime) -> None:
        for mid, m in list(self.outbox.items()):
            if m.order_key == order_key and m.queue == "creation" and m.published_at is None:
                self.outbox[mid] = m.model_copy(update={"published_at": now})

    # -- workflow side ---------------------------------------------------------------------
    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome:
        with self._lock:
            order = self.orders.get(order_key)
            if order is None:
                return ClaimOutcome.MISSING
            if order.status is OrderStatus.RECEIVED:
                self.owners[order_key] = execution_id
                self.orders[order_key] = order.model_copy(update={"status": OrderStatus.PROCESSING, "updated_at": now})
                self.histories[order_key].append(StatusChange(status=OrderStatus.PROCESSING, at=now))
                return ClaimOutcome.CLAIMED
            if order.status is OrderStatus.PROCESSING:
                same = self.owners.get(order_key) == execution_id
                return ClaimOutcome.RESUMED if same else ClaimOutcome.BUSY
            return ClaimOutcome.TERMINAL

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        self.artifacts[(order_key, position, kind)] = copy.deepcopy(payload)

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for (o, p, k), v in self.artifacts.items() if o == order_key and p == position}

    def save_party_evaluation(self, order_key: str, position: int, *, quorum_met: bool, reason: str | None,
                              evaluation: dict[str, Any], participants: list[dict[str, Any]],
                              rules: list[dict[str, Any]]) -> None:
        self.evaluations[(order_key, position)] = {
            "quorum_met": quorum_met, "reason": reason, "evaluation": evaluation,
            "participants": sorted(participants, key=lambda p: p["cpf"]), "rules": rules}

    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]:
        return {p: copy.deepcopy(v) for (o, p), v in self.evaluations.items() if o == order_key}

    def conclude(self, order_key: str, execution_id: str, status: OrderStatus, now: datetime,
                 detail: str | None, result: dict[str, Any] | None, event: OutboxMessage) -> bool:
        with self._lock:
            order = self.orders.get(order_key)
            if order is None:
                return False
            owned = order.status is OrderStatus.PROCESSING and self.owners.get(order_key) == execution_id
            if not (owned or order.status is OrderStatus.RECEIVED):
                return False
            self.orders[order_key] = order.model_copy(update={
                "status": status, "status_detail": detail, "result": result, "updated_at": now,
                "version": order.version + 1})
            self.histories[order_key].append(StatusChange(status=status, detail=detail, at=now))
            self.outbox[event.message_id] = event
            return True

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]:
        return sorted((m for m in self.outbox.values() if m.order_key == order_key and m.published_at is None),
                      key=lambda m: m.created_at)


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail_with: Exception | None = None

    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((queue, body))
        return f"msg-{len(self.sent)}"


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
