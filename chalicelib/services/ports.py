"""Ports: what the services need from the outside world, as Protocols the adapters implement."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Iterable, Protocol

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.orders import OrderDraft, OrderStatus, StatusChange, StoredOrder
from chalicelib.domain.partners import (
    AreaSettings,
    CompanyPowers,
    DomainValues,
    Operator,
    Person,
)

# The logical name of the envelope-creation queue (chalicelib/queues.py), as outbox rows name it.
CREATION_QUEUE = "creation"


class OutboxMessage(BaseModel):
    """A message written in the same transaction as the change that caused it."""

    model_config = ConfigDict(defer_build=True)

    message_id: str
    order_key: str
    queue: str  # logical queue name, e.g. "creation" (see chalicelib/queues.py)
    body: str
    created_at: datetime
    published_at: datetime | None = None
    attempts: int = 0


class PartnerError(Exception):
    """A partner call that did not give a usable answer."""

    def __init__(self, partner: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{partner}: {message}" + (f" (HTTP {status})" if status is not None else ""))
        self.partner = partner
        self.status = status


class PartnerUnavailable(PartnerError):
    """Transient: a 5xx, a timeout, a connection error or an open circuit. Retrying later may succeed."""


class PartnerRejected(PartnerError):
    """Permanent: a 4xx other than the documented 404, or a 2xx whose body breaks the contract."""


class IdempotencyKeyTaken(Exception):
    """The (caller, Idempotency-Key) pair was stored by a concurrent request."""


class OrderRepository(Protocol):
    def create_order(self, draft: OrderDraft, outbox: OutboxMessage) -> None:
        """Store the draft, its parties and documents, the RECEIVED history row, the outbox row and,
        when the draft carries one, the idempotency key: one transaction. Raises IdempotencyKeyTaken."""

    def get_order(self, order_key: str) -> StoredOrder | None: ...

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        """(order_key, request_hash) stored for this caller's Idempotency-Key, or None."""

    def history(self, order_key: str) -> list[StatusChange]: ...

    def transition(
        self,
        order_key: str,
        expected: Iterable[OrderStatus],
        new: OrderStatus,
        now: datetime,
        detail: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set the status (and the result when given) plus a history row, in one
        transaction. False, and nothing written, when the current status is not in `expected`."""

    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]: ...

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None: ...

    def mark_creation_delivered(self, order_key: str, now: datetime) -> None:
        """The order's creation message reached its consumer: the relay need not send it again."""
        ...


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"      # RECEIVED -> PROCESSING by this execution
    RESUMED = "RESUMED"      # already PROCESSING by this same execution (a retried task)
    BUSY = "BUSY"            # PROCESSING by another execution
    TERMINAL = "TERMINAL"    # already has its verdict
    MISSING = "MISSING"      # no such order


class WorkflowRepository(Protocol):
    """What the workflow tasks need beyond OrderRepository (implemented by the same adapter)."""

    def get_order(self, order_key: str) -> StoredOrder | None: ...

    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome: ...

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        """Upsert a partner answer kept for one party (kind: powers, people, operators)."""

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]: ...

    def save_party_evaluation(self, order_key: str, position: int, *, quorum_met: bool, reason: str | None,
                              evaluation: dict[str, Any], participants: list[dict[str, Any]],
                              rules: list[dict[str, Any]]) -> None: ...

    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]: ...

    def conclude(self, order_key: str, execution_id: str, status: OrderStatus, now: datetime,
                 detail: str | None, result: dict[str, Any] | None, event: OutboxMessage) -> bool:
        """CAS to a terminal status, only from PROCESSING owned by `execution_id` (or from RECEIVED),
        with the history row and the event's outbox row: one transaction. False: nothing written."""

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]: ...

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None: ...


class Cache(Protocol):
    def get_json(self, key: str) -> Any | None: ...

    def set_json(self, key: str, value: Any, ttl_seconds: float) -> None: ...


class AreaDirectory(Protocol):
    def get_area(self, area_code: str) -> AreaSettings | None: ...


class DomainDirectory(Protocol):
    def get_domain(self, name: str) -> DomainValues | None: ...


class PowersDirectory(Protocol):
    def get_powers(self, cnpj: str, power_code: str) -> CompanyPowers | None: ...


class PeopleDirectory(Protocol):
    def search(self, cpfs: list[str]) -> list[Person]: ...


class OperatorRegistry(Protocol):
    def search(self, cnpj: str, platform: str, cpfs: list[str]) -> list[Operator]: ...


class MessageQueue(Protocol):
    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        """Send to a logical queue name; returns the message id."""


class WorkflowStarter(Protocol):
    def start(self, order_key: str, payload: dict[str, Any], execution_name: str | None = None) -> bool:
        """Start the execution named after the order (or `execution_name` for a re-drive);
        False when it already exists (a no-op)."""

    def is_running(self, execution_arn: str) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
