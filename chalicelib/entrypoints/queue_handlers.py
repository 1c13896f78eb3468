"""SQS handlers: the creation queue starts the workflow; the result queue delivers the result.

Declarations only: Chalice deploys each handler as its own Lambda function, which starts by importing
this module; what a handler runs loads with its first batch (chalicelib/entrypoints/queue_consumers.py).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.entrypoints.middleware import observed
from chalicelib.queues import QUEUES

queue_handlers = Blueprint(__name__)

_creation = QUEUES["creation"]
_result = QUEUES["result"]


@queue_handlers.on_sqs_message(queue=_creation.name, batch_size=_creation.batch_size, name="on_creation_message")
@observed
def on_creation_message(event: Any) -> dict:
    from chalicelib.entrypoints import queue_consumers

    return queue_consumers.on_creation_message(event)


@queue_handlers.on_sqs_message(queue=_result.name, batch_size=_result.batch_size, name="on_result_message")
@observed
def on_result_message(event: Any) -> dict:
    from chalicelib.entrypoints import queue_consumers

    return queue_consumers.on_result_message(event)
