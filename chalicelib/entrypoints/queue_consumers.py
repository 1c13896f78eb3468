"""What the SQS handlers declared in queue_handlers.py run: batches of records, claim checks, redelivery.

Loaded by a consumer's first batch, not by `import app`. The creation queue starts the workflow; the
result queue delivers the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.aws import WIRE_BODY
from chalicelib.bootstrap import container

log = logging.getLogger(__name__)

# -- reading records: every consumer sees message bodies, never claim checks ----------------


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
        log.error(
            "record sent to the dead-letter queue without retry: %s",
            exc.reason,
            extra={"message_id": record.get("messageId")},
        )
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
        event=event.to_dict(),
        record_handler=handle,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=event.context,
    )


def on_creation_message(event: Any) -> dict:
    launcher = container().launcher
    from chalicelib.services.launch import parse_creation_message

    return process_batch(event, lambda body: launcher.launch(parse_creation_message(body)))


# -- the result queue: product webhook, signers' notifications, envelope-ready ----------------


def receive_count(record: dict[str, Any]) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


def resolve_together(records: list[dict[str, Any]], executor: Any) -> list[dict[str, Any] | Exception | None]:
    """resolved_record for every record of a batch: claim-checked bodies are fetched at the same time on
    `executor`, ordinary ones cost a substring test here. Per record: the resolved record, None (dead-lettered,
    handled) or the exception that stops it (S3 unreachable, or the DLQ refused an unresolvable record)."""
    from chalicelib.adapters.claim_check import claim_reference

    def resolve(record: dict[str, Any]) -> dict[str, Any] | Exception | None:
        try:
            return resolved_record(record)
        except Exception as exc:  # retried like any other failure
            return exc

    pending = [executor.submit(resolve, r) if claim_reference(r.get("body") or "") is not None else r for r in records]
    return [r if isinstance(r, dict) else r.result() for r in pending]


def process_batch_together(
    event: Any,
    batch_handler: Callable[[list[dict[str, Any]]], list[Exception | None]],
    executor: Any,
    on_failure: Callable[[dict[str, Any], Exception], None] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Like process_batch, but `batch_handler` gets the batch's resolved records at once (so it can share
    their round trips and overlap their work) and answers, per record, None or the exception that failed it.

    The batch's work runs first; Powertools' BatchProcessor then walks the records in order and builds the
    partial batch response from those outcomes, running `on_failure` for each failed record. A batch whose
    records all failed is answered with all of them, not raised."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    raw = event.to_dict()
    outcomes: list[Any] = resolve_together(raw.get("Records") or [], executor)
    live = [i for i, resolved in enumerate(outcomes) if isinstance(resolved, dict)]
    try:
        answers = batch_handler([outcomes[i] for i in live]) if live else []
    except Exception as exc:
        answers = [exc] * len(live)
    for i, answer in zip(live, answers):
        outcomes[i] = answer
    in_order = iter(outcomes)  # BatchProcessor hands the records over one by one, in the batch's order

    def report(record: Any) -> None:
        outcome = next(in_order)
        if isinstance(outcome, Exception):
            if on_failure is not None:
                try:
                    on_failure(record.raw_event, outcome)
                except Exception:
                    log.exception("could not schedule the retry of %s", record.message_id)
            raise outcome

    return process_partial_response(
        event=raw,
        record_handler=report,
        context=event.context,
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
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
                log.error(
                    "result event sent to the dead-letter queue without retry: %s",
                    outcome.reason,
                    extra={"message_id": record["messageId"]},
                )
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
