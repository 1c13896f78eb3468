"""Result delivery (contracts §3): the product's webhook, the signers' notifications and the envelope-ready
hand-off, each recorded per channel so a redelivered, re-run or concurrent event never repeats an effect."""
from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, Literal, Mapping, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.observability import record_delivery_attempt
from chalicelib.queues import QUEUES

log = logging.getLogger(__name__)

TEMPLATE = "ORDEM_PENDENTE_ASSINATURA"
ENVELOPE_READY_QUEUE = "envelope_ready"
QUORUM_MET = "ORDER_QUORUM_MET"

WEBHOOK = "WEBHOOK"
NOTIFICATION = "NOTIFICATION"
ENVELOPE_READY = "ENVELOPE_READY"
# Every delivery of one event is an attempt of each channel still pending; SQS dead-letters the event
# after this many receives, so the last one is where a failed channel is given up and recorded.
MAX_ATTEMPTS = QUEUES["result"].max_receive_count


class ClaimState(StrEnum):
    CLAIMED = "CLAIMED"        # this caller holds the lease: do the work, then succeed() or release()
    DELIVERED = "DELIVERED"    # done before: do nothing
    BUSY = "BUSY"              # another copy holds a live lease: come back after it expires


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    attempts: int
    lease_until: datetime | None = None


class DeliverySettings(BaseModel):
    """Delivery timings, from the environment (kept apart from Settings, which this issue does not own)."""

    webhook_timeout_seconds: float = Field(5.0, alias="AME_WEBHOOK_TIMEOUT_SECONDS", gt=0)
    backoff_base_seconds: float = Field(30.0, alias="AME_DELIVERY_BACKOFF_BASE_SECONDS", ge=0)
    backoff_max_seconds: float = Field(900.0, alias="AME_DELIVERY_BACKOFF_MAX_SECONDS", ge=0, le=43200)
    # Longer than one channel's work (webhook timeout included), shorter than the queue's visibility timeout.
    lease_seconds: float = Field(60.0, alias="AME_DELIVERY_LEASE_SECONDS", gt=0)
    concurrency: int = Field(10, alias="AME_DELIVERY_CONCURRENCY", ge=1, le=64)

    model_config = {"populate_by_name": True, "extra": "ignore"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "DeliverySettings":
        return cls.model_validate({k: v for k, v in environ.items() if k.startswith("AME_")})


class ResultEvent(BaseModel):
    """The event of contracts §3, as it arrives on the result queue."""

    model_config = ConfigDict(extra="allow")

    event_id: str = Field(min_length=1, max_length=200)
    event_type: Literal["ORDER_QUORUM_MET", "ORDER_NO_QUORUM", "ORDER_FAILED"]
    order_key: str = Field(min_length=1, max_length=40)
    area_code: str
    external_reference: str | None = None
    occurred_at: str
    status: str
    result: dict[str, Any] | None = None


class PoisonedEvent(Exception):
    """Malformed or unknown: retrying cannot help, so the event goes straight to the dead-letter queue."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """Some channel is not delivered yet: deliver the event again after `delay_seconds`."""

    def __init__(self, delay_seconds: int, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.delay_seconds = delay_seconds
        self.reasons = reasons


class ChannelFailed(Exception):
    """One attempt of one channel failed (non-2xx, timeout, connection error, partner error)."""


class OrderSource(Protocol):
    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]: ...


class DeliveryStore(Protocol):
    def order_context(self, order_key: str) -> dict[str, Any] | None:
        """{"status", "area_code", "area_snapshot"} of the order, or None when it does not exist."""

    def claim(self, order_key: str, channel: str, *, kind: str, target: str | None, now: datetime,
              lease_seconds: float) -> Claim:
        """Count one attempt and take the channel's lease, unless it is delivered or leased elsewhere."""

    def succeed(self, order_key: str, channel: str, now: datetime, message_id: str | None = None) -> None: ...

    def release(self, order_key: str, channel: str, error: str) -> None: ...

    def give_up(self, order_key: str, channel: str, now: datetime, error: str, history_detail: str) -> bool: ...


class WebhookPort(Protocol):
    def send(self, url: str, secret_ref: str, webhook_id: str, body: bytes) -> Any: ...

    @staticmethod
    def describe(url: str) -> str: ...


class NotificationPort(Protocol):
    def send(self, notification_id: str, channel: str, recipient: str, template: str,
             variables: dict[str, Any]) -> bool: ...


class QueuePort(Protocol):
    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str: ...


def backoff_seconds(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> int:
    """Exponential backoff with "equal jitter": between half and all of min(cap, base * 2^(attempt-1)),
    rounded up to whole seconds because SQS visibility timeouts are whole seconds."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return int(math.ceil(ceiling * (0.5 + rand() / 2)))


def masked_cpf(cpf: str) -> str:
    return "***.***.***-" + cpf[-2:]


@dataclass(frozen=True)
class _Work:
    channel: str
    kind: str
    target: str | None
    label: str                           # how the history names it (Portuguese, CPF masked)
    action: Callable[[], str | None]     # raises ChannelFailed; returns an id to keep, if any


class DeliveryService:
    def __init__(self, orders: OrderSource, deliveries: DeliveryStore, webhooks: WebhookPort,
                 notifications: NotificationPort, queue: QueuePort, clock: Any,
                 settings: DeliverySettings | None = None, max_attempts: int = MAX_ATTEMPTS,
                 rand: Callable[[], float] = random.random):
        self._orders = orders
        self._deliveries = deliveries
        self._webhooks = webhooks
        self._notifications = notifications
        self._queue = queue
        self._clock = clock
        self.settings = settings or DeliverySettings()
        self.max_attempts = max_attempts
        self._rand = rand

    # -- the use case ------------------------------------------------------------------------------
    def deliver(self, body: str, receive_count: int = 1) -> dict[str, Any]:
        """Do every channel of the event that is not done yet. Raises PoisonedEvent (never retry) or
        RetryLater (some channel failed or is busy elsewhere); returns a summary when all are done."""
        event = self.parse(body)
        order = self._deliveries.order_context(event.order_key)
        if order is None:
            raise PoisonedEvent(f"ordem {event.order_key} desconhecida")
        last = receive_count >= self.max_attempts
        done, reasons, waits = 0, [], []
        for work in self._plan(event, order, body):
            outcome = self._run(event.order_key, work, last)
            if outcome is None:
                done += 1
            else:
                reason, wait = outcome
                reasons.append(reason)
                if wait is not None:
                    waits.append(wait)
        if reasons:
            delay = 0 if last else max([self.backoff(receive_count), *waits])
            raise RetryLater(delay, reasons)
        return {"order_key": event.order_key, "event_id": event.event_id, "channels": done}

    def backoff(self, receive_count: int) -> int:
        return backoff_seconds(receive_count, self.settings.backoff_base_seconds,
                               self.settings.backoff_max_seconds, self._rand)

    @staticmethod
    def parse(body: str) -> ResultEvent:
        try:
            return ResultEvent.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "corpo"
            raise PoisonedEvent(f"evento inválido ({where}: {first.get('msg')})") from None
        except (ValueError, TypeError) as exc:
            raise PoisonedEvent(f"evento não é JSON: {type(exc).__name__}") from None

    # -- what one event asks for ---------------------------------------------------------------------
    def _plan(self, event: ResultEvent, order: dict[str, Any], body: str) -> list[_Work]:
        works: list[_Work] = []
        webhook = (order["area_snapshot"] or {}).get("webhook") or {}
        if webhook.get("url"):
            works.append(self._webhook_work(event, webhook, body.encode("utf-8")))
        if event.event_type == QUORUM_MET:
            works.extend(self._notification_works(event, order))
            works.append(self._envelope_work(event))
        return works

    def _webhook_work(self, event: ResultEvent, webhook: Mapping[str, Any], raw: bytes) -> _Work:
        url, secret_ref = str(webhook["url"]), str(webhook.get("secret_ref") or "")

        def post() -> None:
            if not secret_ref:
                raise ChannelFailed("webhook sem secret_ref na área")
            attempt = self._webhooks.send(url, secret_ref, event.event_id, raw)
            if not attempt.delivered:
                raise ChannelFailed(attempt.error or "falha desconhecida")
            return None

        return _Work(WEBHOOK, WEBHOOK, self._webhooks.describe(url), "webhook", post)

    def _notification_works(self, event: ResultEvent, order: dict[str, Any]) -> list[_Work]:
        people: dict[str, dict[str, Any]] = {}
        for party in self._orders.party_details(event.order_key).values():
            for participant in party.get("participants") or []:
                people.setdefault(participant["cpf"], participant)
        area_name = (order["area_snapshot"] or {}).get("name") or order["area_code"]
        signers = dict.fromkeys(cpf for party in (event.result or {}).get("parties") or []
                                for cpf in party.get("eligible_signers") or [])
        works = []
        for cpf in signers:
            person = people.get(cpf)
            if person is None:
                log.warning("eligible signer has no stored contact data; not notified",
                            extra={"order_key": event.order_key, "cpf": masked_cpf(cpf)})
                continue
            variables = {"name": person.get("name") or "", "order_key": event.order_key, "area_name": area_name}
            contacts = (("EMAIL", person.get("email")), ("SMS", person.get("phone")))
            for channel, recipient in contacts:
                if recipient:
                    works.append(self._notification_work(event.order_key, cpf, channel, recipient, variables))
        return works

    def _notification_work(self, order_key: str, cpf: str, channel: str, recipient: str,
                           variables: dict[str, Any]) -> _Work:
        notification_id = f"{order_key}:{cpf}:{channel}"

        def notify() -> str:
            from chalicelib.services.ports import PartnerError

            try:
                # Notificação answers a repeated notification_id with 200 and sends nothing: a crash
                # between this call and the record below costs one idempotent call, not a second message.
                self._notifications.send(notification_id, channel, recipient, TEMPLATE, variables)
            except PartnerError as exc:
                raise ChannelFailed(str(exc)) from exc
            return notification_id

        return _Work(f"{channel}:{cpf}", NOTIFICATION, cpf,
                     f"notificação {channel} para {masked_cpf(cpf)}", notify)

    def _envelope_work(self, event: ResultEvent) -> _Work:
        ready_id = f"rdy_{event.order_key}"
        message = json.dumps({
            # The next service dedupes by ready_id: the only way to a second message is a crash between
            # SendMessage and the record of it, and a lease that expired after it.
            "ready_id": ready_id,
            "order_key": event.order_key,
            "event_id": event.event_id,
            "area_code": event.area_code,
            "external_reference": event.external_reference,
            "occurred_at": event.occurred_at,
            "result": event.result,
        }, ensure_ascii=False, separators=(",", ":"))

        def hand_on() -> str:
            try:
                return self._queue.send(ENVELOPE_READY_QUEUE, message)
            except Exception as exc:
                raise ChannelFailed(f"fila envelope-ready: {type(exc).__name__}") from exc

        return _Work(ENVELOPE_READY, ENVELOPE_READY, ENVELOPE_READY_QUEUE, "fila envelope-ready", hand_on)

    # -- one channel, exactly once ---------------------------------------------------------------------
    def _run(self, order_key: str, work: _Work, last: bool) -> tuple[str, int | None] | None:
        now = self._clock.now()
        claim = self._deliveries.claim(order_key, work.channel, kind=work.kind, target=work.target, now=now,
                                       lease_seconds=self.settings.lease_seconds)
        if claim.state == ClaimState.DELIVERED:
            return None
        if claim.state == ClaimState.BUSY:
            wait = 1
            if claim.lease_until is not None:
                wait = max(1, int(math.ceil((claim.lease_until - now).total_seconds())))
            return f"{work.channel}: em andamento em outra execução", wait
        try:
            kept = work.action()
        except Exception as exc:
            error = str(exc) if isinstance(exc, ChannelFailed) else f"erro inesperado: {type(exc).__name__}"
            record_delivery_attempt(work.kind, "gave_up" if last else "failed")
            self._fail(order_key, work, claim.attempts, error, last)
            return f"{work.channel}: {error}", None
        record_delivery_attempt(work.kind, "delivered")
        self._deliveries.succeed(order_key, work.channel, self._clock.now(), kept)
        log.info("result delivered", extra={"order_key": order_key, "kind": work.kind, "attempts": claim.attempts})
        return None

    def _fail(self, order_key: str, work: _Work, attempts: int, error: str, last: bool) -> None:
        if not last:
            self._deliveries.release(order_key, work.channel, error)
            log.warning("result delivery failed; will retry",
                        extra={"order_key": order_key, "kind": work.kind, "attempts": attempts, "error": error})
            return
        detail = (f"entrega falhou após {attempts} tentativa(s): {work.label}: {error}; "
                  f"evento enviado à fila de mensagens mortas")
        self._deliveries.give_up(order_key, work.channel, self._clock.now(), error, detail)
        log.error("result delivery gave up; the event goes to the dead-letter queue",
                  extra={"order_key": order_key, "kind": work.kind, "attempts": attempts, "error": error})
