"""Step Functions task handlers (lambda_function), one per Task state of statemachine.asl.json."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.bootstrap import container
from chalicelib.domain.orders import OrderStatus

workflow_tasks = Blueprint(__name__)


@workflow_tasks.lambda_function(name="start_processing")
def start_processing(event: dict[str, Any], context: Any) -> dict[str, Any]:
    c = container()
    order_key = event["order_key"]
    moved = c.repository.transition(order_key, [OrderStatus.RECEIVED], OrderStatus.PROCESSING, c.clock.now(),
                                    detail="workflow iniciado")
    return {"order_key": order_key, "claimed": moved}
