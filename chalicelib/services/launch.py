"""Creation-queue use case: start the envelope-creation workflow for an order, once per attempt."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.observability import bind_order
from chalicelib.services.ports import Clock, OrderRepository, WorkflowStarter

log = logging.getLogger(__name__)


class MalformedMessage(ValueError):
    """A queue message we can never process; retrying it would not help."""


@dataclass(frozen=True)
class CreationMessage:
    order_key: str
    attempt: int = 0  # 0: the first run; n: the n-th re-drive (try again later, or the sweeper)

    @property
    def execution_name(self) -> str:
        # Standard executions keep their names for 90 days: each re-drive needs a name of its own.
        return self.order_key if self.attempt == 0 else f"{self.order_key}-r{self.attempt}"

    def body(self) -> str:
        return json.dumps({"order_key": self.order_key, "attempt": self.attempt})


def parse_creation_message(body: str) -> CreationMessage:
    try:
        data: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"creation message is not JSON: {exc}") from None
    order_key = data.get("order_key") if isinstance(data, dict) else None
    if not isinstance(order_key, str) or not order_key:
        raise MalformedMessage("creation message without order_key")
    attempt = data.get("attempt", 0)
    if not isinstance(attempt, int) or attempt < 0:
        raise MalformedMessage("creation message with an invalid attempt")
    return CreationMessage(order_key, attempt)


class WorkflowLauncher:
    def __init__(self, repository: OrderRepository, starter: WorkflowStarter, clock: Clock):
        self._repository = repository
        self._starter = starter
        self._clock = clock

    def launch(self, message: CreationMessage) -> bool:
        """Start the execution for this attempt. A repeat, or an order already decided, is a no-op.

        The creation message's outbox row is marked delivered when the message has reached its consumer,
        so the relay does not send it again: by the workflow's claim when this starts an execution (one
        write fewer on the way to the verdict), and here when it does not."""
        bind_order(message.order_key)
        stamp = self._repository.order_stamp(message.order_key)
        if stamp is None:
            raise MalformedMessage(f"unknown order {message.order_key}")
        if stamp.status.terminal:
            log.info("order already terminal; not starting again", extra={"order_key": message.order_key})
            self._mark_delivered(message)
            return False
        started = self._starter.start(
            message.order_key, {"order_key": message.order_key}, execution_name=message.execution_name
        )
        if not started:
            log.info(
                "execution already exists; duplicate message ignored",
                extra={"order_key": message.order_key, "attempt": message.attempt},
            )
            self._mark_delivered(message)
        return started

    def _mark_delivered(self, message: CreationMessage) -> None:
        try:
            self._repository.mark_creation_delivered(message.order_key, self._clock.now())
        except Exception:
            log.warning("creation message not marked delivered", extra={"order_key": message.order_key}, exc_info=True)
