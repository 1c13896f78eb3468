"""SQS handlers: the creation queue starts the workflow; the result queue delivers the result (issue 5).

Declarations only: Chalice deploys each handler as its own Lambda function and every function imports
app.py, so what a handler runs loads with its first batch (chalicelib/entrypoints/queue_consumers.py).
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.queues import QUEUES

queue_handlers = Blueprint(__name__)


def _consumers() -> Any:
    from chalicelib.entrypoints import queue_consumers

    return queue_consumers


_creation = QUEUES["creation"]


@queue_handlers.on_sqs_message(queue=_creation.name, batch_size=_creation.batch_size, name="on_creation_message")
def on_creation_message(event: Any) -> dict:
    return _consumers().on_creation_message(event)


_result = QUEUES["result"]


@queue_handlers.on_sqs_message(queue=_result.name, batch_size=_result.batch_size, name="on_result_message")
def on_result_message(event: Any) -> dict:
    return _consumers().on_result_message(event)

