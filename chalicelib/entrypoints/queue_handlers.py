"""SQS handlers: the creation queue starts the workflow, one record at a time, partial failures reported."""
from __future__ import annotations

import logging
from typing import Any, Callable

from chalice import Blueprint

from chalicelib.bootstrap import container
from chalicelib.queues import QUEUES
from chalicelib.services.launch import parse_creation_message

log = logging.getLogger(__name__)

queue_handlers = Blueprint(__name__)


def process_batch(event: Any, record_handler: Callable[[str], Any]) -> dict[str, list[dict[str, str]]]:
    """Run `record_handler(body)` per record; failed records are reported so only they are retried."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record: Any) -> Any:
        return record_handler(record.body)

    return process_partial_response(
        event=event.to_dict(), record_handler=handle,
        processor=BatchProcessor(event_type=EventType.SQS), context=event.context,
    )


_creation = QUEUES["creation"]


@queue_handlers.on_sqs_message(queue=_creation.name, batch_size=_creation.batch_size, name="on_creation_message")
def on_creation_message(event: Any) -> dict:
    launcher = container().launcher
    return process_batch(event, lambda body: launcher.launch(parse_creation_message(body)))
