"""Ports: what the services need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.orders import OrderDraft, OrderStatus, StatusChange, StoredOrder
from chalicelib.domain.partners import (
    AreaSettings,
    CompanyPowers,
    DomainValues,
    Operator,
    Person,
)
from chalicelib.domain.throttling import Decision, RateLimit

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


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"  # RECEIVED -> PROCESSING by this execution
    RESUMED = "RESUMED"  # already PROCESSING by this same execution (a retried task)
    BUSY = "BUSY"  # PROCESSING by another execution
    TERMINAL = "TERMINAL"  # already has its verdict
    MISSING = "MISSING"  # no such order


# -- the order store, by role ----------------------------------------------------------------------
# One SQL adapter implements every role (chalicelib/adapters/db/); each service asks only for the roles
# it uses. Each method is declared once, in the role it belongs to; the composites below only combine.


class OrderReader(Protocol):
    def get_order(self, order_key: str) -> StoredOrder | None: ...

    def order_stamp(self, order_key: str) -> OrderStamp | None:
        """The order's status, version, updated_at and area: one row, none of its children."""

    def history(self, order_key: str) -> list[StatusChange]: ...


class OrderWriter(Protocol):
    def create_order(self, draft: OrderDraft, outbox: OutboxMessage) -> None:
        """Store the draft, its parties and documents, the RECEIVED history row, the outbox row and,
        when the draft carries one, the idempotency key: one transaction. Raises IdempotencyKeyTaken."""

    def find_idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        """(order_key, request_hash) stored for this caller's Idempotency-Key, or None."""

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


class OutboxStore(Protocol):
    def pending_outbox(self, created_before: datetime, limit: int) -> list[OutboxMessage]: ...

    def pending_outbox_for(self, order_key: str) -> list[OutboxMessage]: ...

    def mark_outbox_published(self, message_ids: list[str], now: datetime) -> None: ...

    def mark_creation_delivered(self, order_key: str, now: datetime) -> None:
        """The order's creation message reached its consumer: the relay need not send it again."""


class PartyDetailsReader(Protocol):
    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]:
        """Per party position: role, document, verdict, evaluation, participants (by CPF), rules (by id)."""


class WorkflowStore(Protocol):
    """What the workflow tasks write while they evaluate an order."""

    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome:
        """RECEIVED -> PROCESSING owned by `execution_id`, by compare-and-set; a parked order (PROCESSING,
        no owner) is claimed again the same way. A claim also marks the order's creation message
        delivered, in the same transaction: the workflow has it, so the relay need not send it again."""

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        """Upsert a partner answer kept for one party (kind: powers, people, operators)."""

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]: ...

    def artifacts_of_kind(self, order_key: str, kind: str) -> dict[int, Any]:
        """One kind of artifact (e.g. verdict) of every party of the order that has it, by position."""

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
        """Replace the party's verdict, participants and rules: re-running it leaves the same rows. With
        `verdict` (and `now`), its verdict artifact is replaced in the same transaction."""

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
        """CAS to a terminal status, only from PROCESSING owned by `execution_id` (or from RECEIVED),
        with the history row and the event's outbox row: one transaction. False: nothing written."""


class RedriveStore(Protocol):
    """Try again later and the sweeper: parked orders (PROCESSING, no owner) and stuck ones."""

    def park(
        self,
        order_key: str,
        execution_id: str,
        now: datetime,
        detail: str,
        next_attempt_at: datetime,
        parked_on: str | None = None,
    ) -> bool:
        """The owning execution lets go of the order and records when the next attempt is due and the
        partner it waits for (None: the failure named none)."""

    def release(self, order_key: str, owner: str | None, now: datetime, detail: str) -> bool:
        """Take a stuck order back (from a dead `owner`, or from RECEIVED with owner None): parked, due now."""

    def due_for_redrive(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        """(order_key, redrive_count) of parked orders whose next attempt is due, oldest due first."""

    def postpone(self, order_key: str, until: datetime) -> None:
        """A re-drive message is on its way: do not send another before `until`."""

    def bump_redrive(self, order_key: str, now: datetime, next_attempt_at: datetime) -> int | None:
        """A parked order is re-driven under a new attempt number; returns it (None: not parked)."""

    def stale_orders(self, status: OrderStatus, updated_before: datetime, limit: int) -> list[tuple[str, str | None]]:
        """(order_key, processing_by) of orders in `status` untouched since `updated_before`."""

    def parked_partners(self) -> list[str]:
        """The partners some parked order waits for, by name."""

    def parked_on(self, partner: str, limit: int) -> list[str]:
        """Order keys parked on `partner`, the soonest due first."""

    def resume_parked(self, order_key: str, partner: str, now: datetime, next_attempt_at: datetime) -> int | None:
        """Compare-and-set: re-drive an order still parked on `partner` under a new attempt number; it no
        longer counts as parked on it. Returns the attempt, or None when it was not (any longer) parked on it."""


class OrderRepository(OrderReader, OrderWriter, OutboxStore, Protocol):
    """Intake, the outbox relay, the launcher and the read side."""


class WorkflowRepository(OrderReader, WorkflowStore, PartyDetailsReader, OutboxStore, Protocol):
    """The workflow tasks."""


class RedriveRepository(OrderReader, RedriveStore, OutboxStore, Protocol):
    """Try again later and the sweeper."""


# -- result delivery (docs/contracts.md §3) ---------------------------------------------------------


class ClaimState(StrEnum):
    CLAIMED = "CLAIMED"  # this caller holds the lease: do the work, then succeed() or release()
    DELIVERED = "DELIVERED"  # done before: do nothing
    BUSY = "BUSY"  # another copy holds a live lease: come back after it expires
    SUPPRESSED = "SUPPRESSED"  # a notification over its recipient's cap: recorded, never sent


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    attempts: int
    lease_until: datetime | None = None


class ClaimRequest(NamedTuple):
    """One channel of one order to claim: count an attempt and take its lease."""

    order_key: str
    channel: str
    kind: str
    target: str | None


class NotificationCap(NamedTuple):
    """No recipient (the CPF a notification channel names) gets more than `limit` notifications per channel in
    any `window_seconds`: a new one beyond that is recorded SUPPRESSED instead of being claimed."""

    limit: int
    window_seconds: float


class Settlement(NamedTuple):
    """How one claimed attempt ended, at `at`: delivered (keeping `message_id`), or failed with `error`;
    a failure with `history_detail` was the last attempt: the channel is given up and the order's
    history says so."""

    order_key: str
    channel: str
    at: datetime
    delivered: bool
    message_id: str | None = None
    error: str | None = None
    history_detail: str | None = None


class DeliveryStore(Protocol):
    """Per batch of events, one read of their orders and one transaction of claims; then each attempt's
    end, recorded as it happens."""

    def order_contexts(self, order_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """{order_key: {"order_key", "status", "area_code", "area_snapshot"}} of those orders that exist."""

    def claim_many(
        self,
        requests: Sequence[ClaimRequest],
        now: datetime,
        lease_seconds: float,
        cap: NotificationCap | None = None,
    ) -> list[Claim]:
        """Per request, in its order: count one attempt and take the channel's lease, unless the channel
        is delivered, suppressed or leased elsewhere (or earlier in `requests`). With a `cap`, a notification
        channel never attempted whose recipient already has `cap.limit` notifications of that channel
        (pending or delivered, first attempted within the window, counting earlier ones of `requests`) is
        recorded SUPPRESSED and answered so. One transaction."""

    def settle(self, settlement: Settlement) -> None:
        """Record a claimed attempt's end, and return once it is recorded: delivered; failed, the lease
        released; or given up with one history row (none when delivered or given up already)."""

    def for_order(self, order_key: str) -> list[dict[str, Any]]:
        """The order's delivery rows (channel, kind, target, status, attempts, last_error, message_id,
        first_attempt_at, last_attempt_at, delivered_at), by kind then channel."""


class WebhookOutcome(Protocol):
    @property
    def delivered(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


class WebhookPoster(Protocol):
    def send(self, url: str, secret_ref: str, webhook_id: str, body: bytes) -> WebhookOutcome:
        """POST the signed body once; a failure is an outcome (delivered False), never an exception."""

    @staticmethod
    def describe(url: str) -> str:
        """The target as a delivery record may keep it (no credentials, no query)."""


class Notifier(Protocol):
    def send(
        self, notification_id: str, channel: str, recipient: str, template: str, variables: dict[str, Any]
    ) -> bool:
        """Raises PartnerError when Notificação does not take it; a repeated id sends nothing again."""


class RateLimiter(Protocol):
    def acquire(self, bucket: str, limit: RateLimit) -> Decision:
        """Take one token from the named bucket (shaped by `limit`), or say how long until one is back.
        Never raises: a limiter whose store is down decides by itself (docs/security.md)."""


@dataclass(frozen=True)
class OrderStamp:
    """What moves whenever a pending order's representation does: `version` (every status change) and
    `updated_at` (a re-drive too); with the order's area, for tenancy. One indexed row, no children."""

    status: OrderStatus
    version: int
    updated_at: datetime
    area_code: str


class ChangeListener(Protocol):
    def wait(self, timeout_seconds: float) -> bool:
        """Block until the order's status changes or `timeout_seconds` pass: True when a change was
        announced since listening began (or since the previous wait). False may still mean a change."""


class OrderChanges(Protocol):
    """Announces committed status changes to whoever waits on that order. Best effort: a waiting reader
    re-reads on its own schedule too, so a lost announcement delays an answer but never loses one."""

    def announce(self, order_key: str) -> None:
        """Never raises."""

    def listen(self, order_key: str) -> AbstractContextManager[ChangeListener]:
        """Listen before reading the order, so a change between the read and the wait is not missed."""


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
    def now(self) -> datetime:
        """Timezone-aware."""


class FailureRecorder(Protocol):
    def record_failure(self, order_key: str, execution_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Conclude the order FAILED with the error's name and message, if `execution_id` still owns it;
        {"order_key", "status": "FAILED" | "ALREADY_CONCLUDED"}."""


# -- data lifecycle (docs/data-lifecycle.md) ---------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One purge transaction's outcome: rows changed, where the next batch starts, whether the range is done."""

    rows: int
    position: Any
    done: bool


class CandidateOrder(NamedTuple):
    order_key: str
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class ArchivePart:
    """One archive object: a creation day's orders from first to last key (docs/data-lifecycle.md)."""

    object_key: str
    day: Any  # datetime.date
    first_order_key: str
    last_order_key: str
    orders: int
    rows: int
    size: int
    sha256: str
    state: str = "ARCHIVED"  # ARCHIVED: written and confirmed, rows not yet deleted; DELETED


class JobLease(Protocol):
    def acquire_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """True when `holder` holds the named lease until `until` (free, expired or already its own)."""

    def release_lease(self, name: str, holder: str, now: datetime) -> None: ...


class RetentionStore(Protocol):
    """What the purge job reads and changes; every method one index-served query or one transaction."""

    def exported_until(self) -> datetime | None:
        """The analytics export's watermark: orders updated after it are not exported yet."""

    def purge_own_time(
        self, rule: Any, cutoff: datetime, exported_until: datetime, position: Any, limit: int
    ) -> Batch: ...

    def count_own_time(
        self, rule: Any, cutoff: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]: ...

    def cursor(self, rule: Any) -> tuple[datetime, str] | None: ...

    def set_cursor(self, rule: Any, position: tuple[datetime, str]) -> None: ...

    def orders_after_verdict(
        self, after: tuple[datetime, str] | None, until: datetime, exported_until: datetime, limit: int
    ) -> list[CandidateOrder]: ...

    def child_rows(self, rule: Any, order_keys: Sequence[str]) -> dict[str, int]: ...

    def apply_after_verdict(self, rule: Any, order_keys: Sequence[str]) -> int: ...

    def count_after_verdict(
        self, rule: Any, after: tuple[datetime, str] | None, until: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]: ...

    def next_archive_day(self, after: Any, before: Any) -> Any: ...

    def day_blockers(self, day: Any, cutoff: datetime, exported_until: datetime) -> int: ...

    def day_orders(self, day: Any, limit: int) -> list[str]: ...

    def order_records(self, order_keys: Sequence[str]) -> list[dict[str, Any]]: ...

    def record_archive(self, part: ArchivePart, order_keys: Sequence[str], now: datetime) -> None: ...

    def pending_archives(self) -> list[ArchivePart]: ...

    def delete_orders(self, order_keys: Sequence[str]) -> dict[str, int]: ...

    def mark_deleted(self, object_key: str, now: datetime) -> None: ...

    def count_orders_due(
        self, before: Any, cutoff: datetime, exported_until: datetime | None
    ) -> tuple[int, datetime | None]: ...


class ArchiveObjects(Protocol):
    """Where archive objects go (S3 with server-side encryption, or a local folder)."""

    def put_confirmed(self, key: str, data: bytes, sha256: str) -> bool:
        """Writes the object and reads its size and checksum back; True when they match."""

    def read(self, key: str) -> bytes | None: ...


# -- what-if audit (docs/security.md, "What-if simulations") ------------------------------------------


@dataclass(frozen=True)
class SimulationRecord:
    """One what-if answered: who asked (the token's caller and subject), when, about which company (CNPJ) in
    which area, and the verdict. No CPF is kept: `unavailable` is a count, the answer is not stored."""

    simulated_at: datetime
    client_id: str
    subject: str | None
    area_code: str
    company: str
    role: str
    power_code: str
    amount: Decimal
    evaluated_on: date
    platform: str | None
    operator_check: bool
    unavailable_count: int
    quorum_met: bool
    reason: str | None
    personal_data: bool  # the answer carried full CPFs (scope ame:personal-data:read)
    request_id: str | None = None


class SimulationJournal(Protocol):
    """Every simulation, written before its answer leaves; operators read them back (bin/ame simulations)."""

    def record(self, entry: SimulationRecord) -> None: ...

    def recent(
        self,
        *,
        area_code: str | None = None,
        client_id: str | None = None,
        company: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SimulationRecord]:
        """Newest first, at most `limit`, filtered by whichever of the arguments are given."""


# -- operations report (docs/runbook.md) ------------------------------------------------------------


class ParkedBacklogReader(Protocol):
    def parked_backlog(self) -> tuple[int, datetime | None]:
        """(how many orders are parked waiting for a partner, when the oldest of them first failed)."""


class BreakerStates(Protocol):
    def open_partners(self) -> dict[str, bool]:
        """Every breaker-guarded partner → whether its shared breaker is open now."""
