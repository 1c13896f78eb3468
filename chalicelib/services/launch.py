"""Creation-queue use case: start the envelope-creation workflow for an order, once."""
from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.services.ports import OrderRepository, WorkflowStarter

log = logging.getLogger(__name__)


class MalformedMessage(ValueError):
    """A queue message we can never process; retrying it would not help."""


def parse_creation_message(body: str) -> str:
    try:
        data: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"creation message is not JSON: {exc}") from None
    order_key = data.get("order_key") if isinstance(data, dict) else None
    if not isinstance(order_key, str) or not order_key:
        raise MalformedMessage("creation message without order_key")
    return order_key


class WorkflowLauncher:
    def __init__(self, repository: OrderRepository, starter: WorkflowStarter):
        self._repository = repository
        self._starter = starter

    def launch(self, order_key: str) -> bool:
        """Start the execution named after the order. A repeat (or a finished order) is a no-op."""
        order = self._repository.get_order(order_key)
        if order is None:
            raise MalformedMessage(f"unknown order {order_key}")
        if order.status.terminal:
            log.info("order already terminal; not starting again", extra={"order_key": order_key})
            return False
        started = self._starter.start(order_key, {"order_key": order_key})
        if not started:
            log.info("execution already exists; duplicate message ignored", extra={"order_key": order_key})
        return started
