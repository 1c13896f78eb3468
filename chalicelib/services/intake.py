"""Order intake: validate, check the area and domain keys, store the draft + outbox, queue it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.area_rules import DOCUMENT_TYPES_DOMAIN, PRODUCTS_DOMAIN, check_against_area
from chalicelib.domain.errors import DependencyUnavailable, IdempotencyConflict, OrderValidationError
from chalicelib.domain.keys import new_order_key
from chalicelib.domain.orders import (
    FieldError,
    OrderDraft,
    OrderParty,
    OrderRequest,
    PartyRole,
    PersonType,
    StoredOrder,
    stored_from_draft,
)
from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.domain.validation import field_errors
from chalicelib.observability import bind_order, record_order_received
from chalicelib.services.ports import (
    CREATION_QUEUE,
    AreaDirectory,
    Clock,
    DomainDirectory,
    IdempotencyKeyTaken,
    MessageQueue,
    OrderRepository,
    OutboxMessage,
    PartnerError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    order: StoredOrder
    replayed: bool


def request_hash(request: OrderRequest) -> str:
    """Hash of the normalised request: a formatted and an unformatted CPF are the same body."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_order_request(body: Any) -> OrderRequest:
    if not isinstance(body, dict):
        raise OrderValidationError(
            [FieldError(field="body", code="INVALID_TYPE", message="o corpo deve ser um objeto JSON")]
        )
    try:
        return OrderRequest.model_validate(body)
    except ValidationError as exc:
        raise OrderValidationError(field_errors(exc)) from None


class IntakeService:
    def __init__(
        self,
        areas: AreaDirectory,
        domains: DomainDirectory,
        repository: OrderRepository,
        queue: MessageQueue,
        clock: Clock,
        executor: Executor,
        entropy: Callable[[int], bytes] = os.urandom,
    ):
        self._areas = areas
        self._domains = domains
        self._repository = repository
        self._queue = queue
        self._clock = clock
        self._executor = executor
        self._entropy = entropy

    def create(self, caller: str, body: Any, idempotency_key: str | None = None) -> IntakeResult:
        request = parse_order_request(body)
        digest = request_hash(request)
        if idempotency_key is not None:
            replay = self._replay(caller, idempotency_key, digest)
            if replay is not None:
                return replay

        area, products, document_types = self._fetch_reference_data(request)
        errors = check_against_area(request, area, products, document_types)
        if errors:
            raise OrderValidationError(errors)
        assert area is not None

        now = self._clock.now()
        order_key = new_order_key(now, self._entropy(10))
        draft = OrderDraft(
            order_key=order_key,
            created_by=caller,
            request=request,
            area_snapshot=area.model_dump(mode="json"),
            parties=self._parties(request, area),
            created_at=now,
            idempotency_key=idempotency_key,
            request_hash=digest,
        )
        outbox = OutboxMessage(
            message_id=uuid.uuid4().hex,
            order_key=order_key,
            queue=CREATION_QUEUE,
            body=json.dumps({"order_key": order_key}),
            created_at=now,
        )
        try:
            self._repository.create_order(draft, outbox)
        except IdempotencyKeyTaken:
            # A concurrent request with the same key won the race: answer as its replay.
            replay = self._replay(caller, idempotency_key or "", digest)
            if replay is None:
                raise
            return replay
        bind_order(order_key, area=request.area_code)
        record_order_received(request.area_code)
        self._publish_now(outbox)
        return IntakeResult(order=stored_from_draft(draft), replayed=False)

    def _replay(self, caller: str, key: str, digest: str) -> IntakeResult | None:
        found = self._repository.find_idempotent(caller, key)
        if found is None:
            return None
        order_key, stored_digest = found
        if stored_digest != digest:
            raise IdempotencyConflict("Idempotency-Key já usada com outro corpo de requisição")
        order = self._repository.get_order(order_key)
        if order is None:  # cannot happen: both rows are written in one transaction
            return None
        return IntakeResult(order=order, replayed=True)

    def _fetch_reference_data(
        self, request: OrderRequest
    ) -> tuple[AreaSettings | None, DomainValues | None, DomainValues | None]:
        # The three look-ups overlap: a cold request costs one partner round trip, not three.
        # The others go to the executor first; the area look-up runs on this thread meanwhile.
        products_f: Future[Any] = self._executor.submit(self._domains.get_domain, PRODUCTS_DOMAIN)
        doc_types_f: Future[Any] | None = (
            self._executor.submit(self._domains.get_domain, DOCUMENT_TYPES_DOMAIN) if request.documents else None
        )
        try:
            area = self._areas.get_area(request.area_code)
            products = products_f.result()
            document_types = doc_types_f.result() if doc_types_f is not None else None
        except PartnerError as exc:
            log.warning("reference data unavailable", extra={"partner": exc.partner, "error": str(exc)})
            raise DependencyUnavailable(exc.partner, f"{exc.partner} não respondeu; tente novamente") from exc
        return area, products, document_types

    @staticmethod
    def _parties(request: OrderRequest, area: AreaSettings) -> list[OrderParty]:
        parties = []
        for position, (role, party) in enumerate(request.parties()):
            power_code = None
            if party.person_type is PersonType.PJ:
                power_code = area.power_codes.requester if role is PartyRole.REQUESTER else area.power_codes.guarantor
            parties.append(
                OrderParty(
                    position=position,
                    role=role,
                    person_type=party.person_type,
                    document=party.document,
                    power_code=power_code,
                )
            )
        return parties

    def _publish_now(self, outbox: OutboxMessage) -> None:
        """Send right after commit; if this fails the outbox relay sends it later.

        The row is not marked here: the creation consumer marks it when the message reaches it
        (WorkflowLauncher), which keeps a second write off the request path. Until then the relay leaves
        it alone for `AME_OUTBOX_RELAY_MIN_AGE_SECONDS`; a message still unconsumed after that is sent
        again, and the consumer treats the repeat as the no-op it is."""
        try:
            self._queue.send(outbox.queue, outbox.body)
        except Exception:
            log.warning(
                "creation message not sent now; the outbox relay will send it",
                extra={"order_key": outbox.order_key},
                exc_info=True,
            )


class OutboxRelay:
    """Republishes what the outbox still holds (a crash between commit and send strands nothing)."""

    def __init__(self, repository: OrderRepository, queue: MessageQueue, clock: Clock, min_age_seconds: float):
        self._repository, self._queue, self._clock = repository, queue, clock
        self._min_age = min_age_seconds

    def run_once(self, limit: int = 100) -> int:
        now = self._clock.now()
        pending = self._repository.pending_outbox(now - timedelta(seconds=self._min_age), limit)
        sent = []
        for message in pending:
            try:
                self._queue.send(message.queue, message.body)
                sent.append(message.message_id)
            except Exception:
                log.warning("outbox relay could not send", extra={"order_key": message.order_key}, exc_info=True)
        if sent:
            self._repository.mark_outbox_published(sent, self._clock.now())
        return len(sent)
