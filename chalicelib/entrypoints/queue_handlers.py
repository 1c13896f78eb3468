"""SQS handlers: the creation queue starts the workflow; the result queue delivers the result (issue 5)."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from chalice import Blueprint

from chalicelib.bootstrap import container
from chalicelib.queues import QUEUES

log = logging.getLogger(__name__)

queue_handlers = Blueprint(__name__)


# -- reading records: every consumer sees message bodies, never claim checks (issue 6) ----------------

# Where a resolved record keeps the body it carried on the wire (the claim check reference): a record
# dead-lettered after resolution goes to the DLQ as that small reference, which replays as it came.
WIRE_BODY = "ameWireBody"


def resolved_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record as its handler must see it, with a claim-checked body replaced by the body kept in S3.

    None when that body can never be had (missing, or not the one the reference recorded): the record
    is then in the dead-letter queue with the reason, and must be reported as handled. S3 being
    unreachable raises, so the record is retried like any other failure."""
    from chalicelib.adapters.claim_check import ClaimCheckError, claim_reference

    body = record.get("body") or ""
    try:
        if claim_reference(body) is None:  # ordinary bodies cost a substring test, no S3 and no container
            return record
        resolved = container().claim_checks.check_out(body)
    except ClaimCheckError as exc:
        log.error("record sent to the dead-letter queue without retry: %s", exc.reason,
                  extra={"message_id": record.get("messageId")})
        container().result_redelivery.dead_letter(record, exc.reason)  # raises when the DLQ refuses it
        return None
    return {**record, "body": resolved, WIRE_BODY: body}


def process_batch(event: Any, record_handler: Callable[[str], Any]) -> dict[str, list[dict[str, str]]]:
    """Run `record_handler(body)` per record; failed records are reported so only they are retried."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record: Any) -> Any:
        resolved = resolved_record(record.raw_event)
        if resolved is None:
            return None
        return record_handler(resolved["body"])

    return process_partial_response(
        event=event.to_dict(), record_handler=handle,
        processor=BatchProcessor(event_type=EventType.SQS), context=event.context,
    )


_creation = QUEUES["creation"]


@queue_handlers.on_sqs_message(queue=_creation.name, batch_size=_creation.batch_size, name="on_creation_message")
def on_creation_message(event: Any) -> dict:
    launcher = container().launcher
    from chalicelib.services.launch import parse_creation_message

    return process_batch(event, lambda body: launcher.launch(parse_creation_message(body)))


# -- the result queue: product webhook, signers' notifications, envelope-ready (issue 5) ----------------

def receive_count(record: dict[str, Any]) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


def process_batch_concurrently(
    event: Any,
    record_handler: Callable[[dict[str, Any]], Any],
    executor: Any,
    on_failure: Callable[[dict[str, Any], Exception], None] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Like process_batch, but the records of a batch run at the same time on `executor` (their work is
    waiting on HTTP). Failed records are reported by id, and `on_failure` runs for each on this thread."""
    records = event.to_dict().get("Records") or []

    def run(record: dict[str, Any]) -> Any:
        resolved = resolved_record(record)  # on the executor: a claim check costs an S3 GET
        return None if resolved is None else record_handler(resolved)

    running = [(record, executor.submit(run, record)) for record in records]
    failures = []
    for record, future in running:
        try:
            future.result()
        except Exception as exc:
            failures.append({"itemIdentifier": record["messageId"]})
            if on_failure is not None:
                try:
                    on_failure(record, exc)
                except Exception:
                    log.exception("could not schedule the retry of %s", record["messageId"])
    return {"batchItemFailures": failures}


class SqsRedelivery:
    """What Lambda's event source mapping cannot do for a record: come back after a chosen delay
    (ChangeMessageVisibility) or go to the dead-letter queue at once. Queue URLs come from the record's
    eventSourceARN; the DLQ is the queue's name + "-dlq" (chalicelib/queues.py)."""

    MAX_VISIBILITY_SECONDS = 43200

    def __init__(self, sqs_client_factory: Callable[[], Any]):
        self._factory = sqs_client_factory
        self._client: Any = None
        self._urls: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def _sqs(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def _url(self, queue_arn: str, suffix: str = "") -> str:
        parts = queue_arn.split(":")
        account, name = parts[4], parts[5] + suffix
        url = self._urls.get((account, name))
        if url is None:
            url = self._sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._urls[(account, name)] = url
        return url

    def defer(self, record: dict[str, Any], seconds: int) -> None:
        seconds = max(0, min(int(seconds), self.MAX_VISIBILITY_SECONDS))
        try:
            self._sqs().change_message_visibility(QueueUrl=self._url(record["eventSourceARN"]),
                                                  ReceiptHandle=record["receiptHandle"], VisibilityTimeout=seconds)
        except Exception as exc:
            # The record still comes back, after the queue's own visibility timeout instead.
            log.warning("could not delay the retry of %s: %s", record["messageId"], type(exc).__name__)

    def dead_letter(self, record: dict[str, Any], reason: str) -> None:
        """Raises when the DLQ cannot take it, so the record is reported failed and not lost."""
        self._sqs().send_message(
            QueueUrl=self._url(record["eventSourceARN"], "-dlq"),
            MessageBody=record.get(WIRE_BODY, record["body"]),
            MessageAttributes={"ame-dead-letter-reason": {"DataType": "String", "StringValue": reason[:1000]},
                               "ame-source-message-id": {"DataType": "String", "StringValue": record["messageId"]}},
        )


_result = QUEUES["result"]


@queue_handlers.on_sqs_message(queue=_result.name, batch_size=_result.batch_size, name="on_result_message")
def on_result_message(event: Any) -> dict:
    from chalicelib.services.delivery import PoisonedEvent, RetryLater

    c = container()
    delivery, redelivery = c.delivery, c.result_redelivery

    def handle(record: dict[str, Any]) -> None:
        try:
            delivery.deliver(record["body"], receive_count(record))
        except PoisonedEvent as exc:
            log.error("result event sent to the dead-letter queue without retry: %s", exc.reason,
                      extra={"message_id": record["messageId"]})
            redelivery.dead_letter(record, exc.reason)

    def retry_later(record: dict[str, Any], exc: Exception) -> None:
        if isinstance(exc, RetryLater):
            delay = exc.delay_seconds
        else:
            log.error("result event failed: %s: %s", type(exc).__name__, exc, extra={"message_id": record["messageId"]})
            delay = delivery.backoff(receive_count(record))
        redelivery.defer(record, delay)

    return process_batch_concurrently(event, handle, c.delivery_executor, retry_later)
