"""Result delivery (docs/contracts.md §3): the product's webhook, the signers' notifications and the envelope-ready
hand-off, each recorded per channel so a redelivered, re-run or concurrent event never repeats an effect."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.masking import mask_cpf
from chalicelib.observability import record_delivery_attempt
from chalicelib.queues import QUEUES
from chalicelib.services.ports import (
    Claim,
    ClaimRequest,
    ClaimState,
    Clock,
    DeliveryStore,
    MessageQueue,
    NotificationCap,
    Notifier,
    PartnerError,
    PartyDetailsReader,
    Settlement,
    WebhookPoster,
)
from chalicelib.settings import DeliveryPolicy

# Re-exported: the delivery adapter and the tests name them from here as well as from the ports.
__all__ = ["Claim", "ClaimRequest", "ClaimState", "DeliveryPolicy", "DeliveryService", "Settlement"]

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


class ResultEvent(BaseModel):
    """The event of docs/contracts.md §3, as it arrives on the result queue."""

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


def suppression_note(cap: NotificationCap) -> str:
    """What a suppressed notification's record says (its `last_error`), as the order's readers see it."""
    window = f"{cap.window_seconds / 3600:g} h" if cap.window_seconds >= 3600 else f"{cap.window_seconds:g} s"
    return f"suprimida: a pessoa já recebeu {cap.limit} notificação(ões) deste canal em {window}"


def backoff_seconds(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> int:
    """Exponential backoff with "equal jitter": between half and all of min(cap, base * 2^(attempt-1)),
    rounded up to whole seconds because SQS visibility timeouts are whole seconds."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return int(math.ceil(ceiling * (0.5 + rand() / 2)))


WEBHOOK_SECRET_PREFIX = "ame/webhooks/"


def webhook_secret_ref(area_code: str) -> str:
    """The only secret_ref an area's webhook may name (docs/contracts.md §3): `ame/webhooks/<area_code>`."""
    return WEBHOOK_SECRET_PREFIX + area_code


@dataclass(frozen=True)
class _Work:
    channel: str
    kind: str
    target: str | None
    label: str  # how the history names it (Portuguese, CPF masked)
    action: Callable[[], str | None]  # raises ChannelFailed; returns an id to keep, if any


@dataclass
class _Event:
    """One event of a batch on its way through DeliveryService.deliver_batch."""

    body: str
    last: bool  # the last receive: a failed channel is given up
    parsed: ResultEvent | None = None
    failure: Exception | None = None  # what stops the event (PoisonedEvent, the database down...)
    claimed: list[tuple[_Work, Claim]] = field(default_factory=list)
    done: int = 0
    reasons: list[str] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)

    @property
    def event(self) -> ResultEvent:
        """The parsed event: only events that parsed go past deliver_batch's first step."""
        if self.parsed is None:
            raise RuntimeError("event used before it was parsed")
        return self.parsed


class DeliveryService:
    def __init__(
        self,
        orders: PartyDetailsReader,
        deliveries: DeliveryStore,
        webhooks: WebhookPoster,
        notifications: Notifier,
        queue: MessageQueue,
        clock: Clock,
        settings: DeliveryPolicy | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        rand: Callable[[], float] = random.random,
    ):
        self._orders = orders
        self._deliveries = deliveries
        self._webhooks = webhooks
        self._notifications = notifications
        self._queue = queue
        self._clock = clock
        self.settings = settings or DeliveryPolicy.model_validate({})
        self.max_attempts = max_attempts
        self._rand = rand

    # -- the use case ------------------------------------------------------------------------------
    def deliver(self, body: str, receive_count: int = 1) -> dict[str, Any]:
        """Do every channel of the event that is not done yet. Raises PoisonedEvent (never retry) or
        RetryLater (some channel failed or is busy elsewhere); returns a summary when all are done."""
        [outcome] = self.deliver_batch([(body, receive_count)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def deliver_batch(
        self, events: Sequence[tuple[str, int]], executor: Executor | None = None
    ) -> list[dict[str, Any] | Exception]:
        """deliver() for each (body, receive_count), the events' attempts overlapping on `executor`.
        Per event, in order: its summary, or the exception that stops it (PoisonedEvent, RetryLater, or
        an unexpected one such as the database down, to be retried with backoff); an exception that is
        not an Exception (the runtime going away) propagates.

        What comes before the attempts runs here, once for the batch: one read of the orders and one
        transaction of claims, so the POSTs leave together instead of one after another behind each
        event's round trips. Then each event's channels run in their order as one task, each channel's
        end recorded as soon as it is done, as deliver() always did."""
        batch = [_Event(body, receive_count >= self.max_attempts) for body, receive_count in events]
        for item in batch:
            try:
                item.parsed = self.parse(item.body)
            except PoisonedEvent as exc:
                item.failure = exc
        self._claim([item for item in batch if item.failure is None])
        self._attempt_all([item for item in batch if item.failure is None and item.claimed], executor)
        return [self._outcome(item, receive_count) for item, (_, receive_count) in zip(batch, events)]

    def _claim(self, batch: list[_Event]) -> None:
        if not batch:
            return
        try:
            orders = self._deliveries.order_contexts(sorted({item.event.order_key for item in batch}))
        except Exception as exc:
            for item in batch:
                item.failure = exc
            return
        planned: list[tuple[_Event, list[_Work]]] = []
        for item in batch:
            order = orders.get(item.event.order_key)
            if order is None:
                item.failure = PoisonedEvent(f"ordem {item.event.order_key} desconhecida")
                continue
            try:
                planned.append((item, self._plan(item.event, order, item.body)))
            except Exception as exc:  # e.g. the signers' contact data could not be read
                item.failure = exc
        requests = [
            ClaimRequest(item.event.order_key, work.channel, work.kind, work.target)
            for item, works in planned
            for work in works
        ]
        now = self._clock.now()
        try:
            claims = iter(self._deliveries.claim_many(requests, now, self.settings.lease_seconds, cap=self.cap))
        except Exception as exc:
            for item, _ in planned:
                item.failure = exc
            return
        for item, works in planned:
            for work in works:
                claim = next(claims)
                if claim.state == ClaimState.CLAIMED:
                    item.claimed.append((work, claim))
                elif claim.state == ClaimState.DELIVERED:
                    item.done += 1
                elif claim.state == ClaimState.SUPPRESSED:
                    # Recorded on the order (deliveries, status SUPPRESSED), never sent: the recipient
                    # reached the cap of this channel. Done, as far as retries are concerned.
                    item.done += 1
                    record_delivery_attempt(work.kind, "suppressed")
                    log.warning(
                        "notification suppressed: recipient over the cap",
                        extra={"order_key": item.event.order_key, "channel": work.channel.split(":", 1)[0]},
                    )
                else:
                    wait_seconds = 1
                    if claim.lease_until is not None:
                        wait_seconds = max(1, int(math.ceil((claim.lease_until - now).total_seconds())))
                    item.reasons.append(f"{work.channel}: em andamento em outra execução")
                    item.waits.append(wait_seconds)

    def _attempt_all(self, batch: list[_Event], executor: Executor | None) -> None:
        if executor is None or len(batch) == 1:
            for item in batch:
                self._attempt(item)
            return
        running = [executor.submit(self._attempt, item) for item in batch]
        wait(running)  # one wake-up for the batch, not one per event
        for item, future in zip(batch, running):
            try:
                future.result()
            except Exception as exc:
                item.failure = exc

    def _attempt(self, item: _Event) -> None:
        """One event's claimed channels, in order, each recorded as soon as it is done: a crash costs at
        most one channel's effect without its record (the same ids go out again, and are deduplicated)."""
        key = item.event.order_key
        for work, claim in item.claimed:
            try:
                kept = work.action()
            except Exception as exc:
                error = str(exc) if isinstance(exc, ChannelFailed) else f"erro inesperado: {type(exc).__name__}"
                record_delivery_attempt(work.kind, "gave_up" if item.last else "failed")
                detail = None
                if item.last:
                    detail = (
                        f"entrega falhou após {claim.attempts} tentativa(s): {work.label}: {error}; "
                        f"evento enviado à fila de mensagens mortas"
                    )
                settlement = Settlement(key, work.channel, self._clock.now(), False, error=error, history_detail=detail)
            else:
                record_delivery_attempt(work.kind, "delivered")
                settlement = Settlement(key, work.channel, self._clock.now(), True, message_id=kept)
            try:
                self._deliveries.settle(settlement)
            except Exception as exc:  # unrecorded: the lease lapses and the channel is tried again
                item.failure = exc
                return
            extra = {"order_key": key, "kind": work.kind, "attempts": claim.attempts}
            if settlement.delivered:
                item.done += 1
                log.info("result delivered", extra=extra)
                continue
            item.reasons.append(f"{work.channel}: {settlement.error}")
            if item.last:
                log.error(
                    "result delivery gave up; the event goes to the dead-letter queue",
                    extra={**extra, "error": settlement.error},
                )
            else:
                log.warning("result delivery failed; will retry", extra={**extra, "error": settlement.error})

    def _outcome(self, item: _Event, receive_count: int) -> dict[str, Any] | Exception:
        if item.failure is not None:
            return item.failure
        if item.reasons:
            delay = 0 if item.last else max([self.backoff(receive_count), *item.waits])
            return RetryLater(delay, item.reasons)
        return {"order_key": item.event.order_key, "event_id": item.event.event_id, "channels": item.done}

    @property
    def cap(self) -> NotificationCap:
        return NotificationCap(self.settings.notification_cap, self.settings.notification_cap_window_seconds)

    def backoff(self, receive_count: int) -> int:
        return backoff_seconds(
            receive_count, self.settings.backoff_base_seconds, self.settings.backoff_max_seconds, self._rand
        )

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
        own_ref = webhook_secret_ref(event.area_code)

        def post() -> None:
            if not secret_ref:
                raise ChannelFailed("webhook sem secret_ref na área")
            if secret_ref != own_ref:
                # An area signs with its own secret only: naming another area's would let its editor
                # send events that the other area's product takes for genuine.
                log.warning(
                    "webhook secret_ref is not the area's own; not sent",
                    extra={"order_key": event.order_key, "secret_ref": secret_ref, "expected": own_ref},
                )
                raise ChannelFailed(f"secret_ref do webhook deve ser {own_ref}")
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
        signers = dict.fromkeys(
            cpf for party in (event.result or {}).get("parties") or [] for cpf in party.get("eligible_signers") or []
        )
        works = []
        for cpf in signers:
            person = people.get(cpf)
            if person is None:
                log.warning(
                    "eligible signer has no stored contact data; not notified",
                    extra={"order_key": event.order_key, "cpf": mask_cpf(cpf)},
                )
                continue
            variables = {"name": person.get("name") or "", "order_key": event.order_key, "area_name": area_name}
            contacts = (("EMAIL", person.get("email")), ("SMS", person.get("phone")))
            for channel, recipient in contacts:
                if recipient:
                    works.append(self._notification_work(event.order_key, cpf, channel, recipient, variables))
        return works

    def _notification_work(
        self, order_key: str, cpf: str, channel: str, recipient: str, variables: dict[str, Any]
    ) -> _Work:
        notification_id = f"{order_key}:{cpf}:{channel}"

        def notify() -> str:
            try:
                # Notificação answers a repeated notification_id with 200 and sends nothing: a crash
                # between this call and the record below costs one idempotent call, not a second message.
                self._notifications.send(notification_id, channel, recipient, TEMPLATE, variables)
            except PartnerError as exc:
                raise ChannelFailed(str(exc)) from exc
            return notification_id

        return _Work(f"{channel}:{cpf}", NOTIFICATION, cpf, f"notificação {channel} para {mask_cpf(cpf)}", notify)

    def _envelope_work(self, event: ResultEvent) -> _Work:
        ready_id = f"rdy_{event.order_key}"
        message = json.dumps(
            {
                # The next service dedupes by ready_id: the only way to a second message is a crash between
                # SendMessage and the record of it, and a lease that expired after it.
                "ready_id": ready_id,
                "order_key": event.order_key,
                "event_id": event.event_id,
                "area_code": event.area_code,
                "external_reference": event.external_reference,
                "occurred_at": event.occurred_at,
                "result": event.result,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

        def hand_on() -> str:
            try:
                return self._queue.send(ENVELOPE_READY_QUEUE, message)
            except Exception as exc:
                raise ChannelFailed(f"fila envelope-ready: {type(exc).__name__}") from exc

        return _Work(ENVELOPE_READY, ENVELOPE_READY, ENVELOPE_READY_QUEUE, "fila envelope-ready", hand_on)
