"""What the SQS handlers declared in queue_handlers.py run: batches of records, claim checks, redelivery.

Loaded by a consumer's first batch, not by `import app`. The creation queue starts the workflow; the
result queue delivers the result (issue 5).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from chalicelib.bootstrap import container

log = logging.getLogger(__name__)

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


def process_batch_together(
    event: Any,
    batch_handler: Callable[[list[dict[str, Any]]], list[Exception | None]],
    executor: Any,
    on_failure: Callable[[dict[str, Any], Exception], None] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Like process_batch, but `batch_handler` gets the batch's resolved records at once (so it can share their round trips and overlap their work) and answers, per record, None or the exception
    that failed it. Claim-checked bodies are fetched at the same time on `executor`; ordinary ones cost a
    substring test here. Failed records are reported by id, and `on_failure` runs for each on this thread."""
    from concurrent.futures import Future

    from chalicelib.adapters.claim_check import claim_reference

    records = event.to_dict().get("Records") or []

    def resolve(record: dict[str, Any]) -> Any:
        try:
            return resolved_record(record)
        except Exception as exc:  # S3 unreachable, or the DLQ refused an unresolvable record: retried
            return exc

    resolving = [executor.submit(resolve, r) if claim_reference(r.get("body") or "") is not None else r
                 for r in records]
    outcomes: list[Any] = [r.result() if isinstance(r, Future) else r for r in resolving]
    live = [i for i, resolved in enumerate(outcomes) if isinstance(resolved, dict)]
    try:
        answers = batch_handler([outcomes[i] for i in live]) if live else []
    except Exception as exc:
        answers = [exc] * len(live)
    for i, answer in zip(live, answers):
        outcomes[i] = answer
    failures = []
    for record, outcome in zip(records, outcomes):
        if isinstance(outcome, Exception):
            failures.append({"itemIdentifier": record["messageId"]})
            if on_failure is not None:
                try:
                    on_failure(record, outcome)
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


def on_result_message(event: Any) -> dict:
    from chalicelib.services.delivery import PoisonedEvent, RetryLater

    c = container()
    delivery, redelivery = c.delivery, c.result_redelivery

    def handle(records: list[dict[str, Any]]) -> list[Exception | None]:
        outcomes = delivery.deliver_batch([(r["body"], receive_count(r)) for r in records], c.delivery_executor)
        answers: list[Exception | None] = []
        for record, outcome in zip(records, outcomes):
            if isinstance(outcome, PoisonedEvent):
                log.error("result event sent to the dead-letter queue without retry: %s", outcome.reason,
                          extra={"message_id": record["messageId"]})
                try:
                    redelivery.dead_letter(record, outcome.reason)
                    outcome = None
                except Exception as exc:  # the DLQ refused it: retried, not lost
                    outcome = exc
            answers.append(outcome if isinstance(outcome, Exception) else None)
        return answers

    def retry_later(record: dict[str, Any], exc: Exception) -> None:
        if isinstance(exc, RetryLater):
            delay = exc.delay_seconds
        else:
            log.error("result event failed: %s: %s", type(exc).__name__, exc, extra={"message_id": record["messageId"]})
            delay = delivery.backoff(receive_count(record))
        redelivery.defer(record, delay)

    return process_batch_together(event, handle, c.delivery_executor, retry_later)
