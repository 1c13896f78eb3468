"""Try again later: park an order whose partner stays down, re-drive it with a growing interval, and
sweep up orders a lost message or a dead execution left behind. No accepted order stays stuck."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from chalicelib.domain.orders import OrderStatus
from chalicelib.services.launch import CreationMessage
from chalicelib.services.ports import (
    CREATION_QUEUE,
    Clock,
    FailureRecorder,
    MessageQueue,
    RedriveRepository,
    WorkflowStarter,
)
from chalicelib.services.recovery import parked_partner
from chalicelib.services.workflow import describe_error

log = logging.getLogger(__name__)

MAX_SQS_DELAY_SECONDS = 900


@dataclass(frozen=True)
class RedrivePolicy:
    base_seconds: float = 60.0  # first wait; doubles at each re-drive
    max_interval_seconds: float = 3600.0
    max_total_seconds: float = 86400.0  # then the order ends FAILED with the reason
    stuck_after_seconds: float = 900.0  # an execution silent this long is checked by the sweeper
    grace_seconds: float = 120.0  # a sent re-drive gets this long to be claimed before a resend
    jitter: float = 0.2


class Redrive:
    def __init__(
        self,
        repository: RedriveRepository,
        queue: MessageQueue,
        starter: WorkflowStarter,
        workflow: FailureRecorder,
        clock: Clock,
        policy: RedrivePolicy = RedrivePolicy(),
        rng: random.Random | None = None,
    ) -> None:
        self._repo = repository
        self._queue = queue
        self._starter = starter
        self._workflow = workflow
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()

    def park(self, order_key: str, execution_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Called by the state machine when a transient error outlived its retries."""
        order = self._repo.get_order(order_key)
        if order is None or order.status is not OrderStatus.PROCESSING or order.processing_by != execution_id:
            return {"order_key": order_key, "outcome": "NOT_OWNER"}
        now = self._clock.now()
        name, message = describe_error(error)
        first = order.first_failure_at or now
        p = self._policy
        interval = min(p.base_seconds * (2**order.redrive_count), p.max_interval_seconds)
        interval *= self._rng.uniform(1 - p.jitter, 1 + p.jitter)
        waited = (now - first).total_seconds()
        if waited + interval > p.max_total_seconds:
            log.error(
                "partner unavailable past the re-drive budget; failing the order",
                extra={"order_key": order_key, "error": name},
            )
            gave_up = {
                "Error": name,
                "Cause": json.dumps(
                    {
                        "errorMessage": (
                            f"{message} — parceiro indisponível por {int(waited)}s, além do limite de "
                            f"{int(p.max_total_seconds)}s para novas tentativas"
                        )
                    }
                ),
            }
            result = self._workflow.record_failure(order_key, execution_id, gave_up)
            return {"order_key": order_key, "outcome": "FAILED" if result["status"] == "FAILED" else "NOT_OWNER"}
        next_at = now + timedelta(seconds=interval)
        attempt = order.redrive_count + 1
        detail = (
            f"aguardando parceiro ({name}: {message}); nova tentativa {attempt} às "
            f"{next_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
        if not self._repo.park(order_key, execution_id, now, detail, next_at, parked_partner(message)):
            return {"order_key": order_key, "outcome": "NOT_OWNER"}
        if interval <= MAX_SQS_DELAY_SECONDS:
            # The delayed message brings it back; the sweeper resends only if nobody claims it in time.
            self._send(CreationMessage(order_key, attempt), int(round(interval)))
            self._repo.postpone(order_key, next_at + timedelta(seconds=p.grace_seconds))
        log.warning(
            "order parked: partner unavailable",
            extra={"order_key": order_key, "attempt": attempt, "next_attempt_in_s": round(interval, 1)},
        )
        return {"order_key": order_key, "outcome": "PARKED", "attempt": attempt, "next_attempt_at": next_at.isoformat()}

    def sweep(self, limit: int = 100) -> dict[str, int]:
        """The scheduled safety net: re-drive due parked orders, take back orders of dead executions,
        re-send orders whose creation message was lost."""
        now = self._clock.now()
        p = self._policy
        counts = {"redriven": 0, "released": 0}
        stale_before = now - timedelta(seconds=p.stuck_after_seconds)
        for order_key, owner in self._repo.stale_orders(OrderStatus.PROCESSING, stale_before, limit):
            if owner is not None and not self._starter.is_running(owner):
                if self._repo.release(order_key, owner, now, "execução interrompida; nova tentativa"):
                    counts["released"] += 1
        for order_key, _ in self._repo.stale_orders(OrderStatus.RECEIVED, stale_before, limit):
            if not self._repo.pending_outbox_for(order_key):  # unpublished ones are the relay's
                if self._repo.release(order_key, None, now, "mensagem de criação perdida; nova tentativa"):
                    counts["released"] += 1
        for order_key, _ in self._repo.due_for_redrive(now, limit):
            attempt = self._repo.bump_redrive(order_key, now, now + timedelta(seconds=p.grace_seconds))
            if attempt is not None:
                self._send(CreationMessage(order_key, attempt), 0)
                counts["redriven"] += 1
        if any(counts.values()):
            log.warning("sweeper re-drove orders", extra=counts)
        return counts

    def _send(self, message: CreationMessage, delay_seconds: int) -> None:
        self._queue.send(
            CREATION_QUEUE, message.body(), delay_seconds=max(0, min(delay_seconds, MAX_SQS_DELAY_SECONDS))
        )
