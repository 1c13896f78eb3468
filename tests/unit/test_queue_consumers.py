"""Result batches: the batch's work runs once, Powertools' BatchProcessor reports the records that failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.entrypoints.queue_consumers import process_batch_together
from tests.lambda_events import sqs_event


class SqsEvent:
    """What Chalice hands an on_sqs_message handler: to_dict() and the Lambda context."""

    def __init__(self, bodies: list[str]):
        self.context = None
        self._records = sqs_event(*bodies, queue="ame-envelope-result")["Records"]

    def to_dict(self) -> dict[str, Any]:
        return {"Records": self._records}


@pytest.fixture(scope="module")
def executor():
    with ThreadPoolExecutor(2) as pool:
        yield pool


def test_the_batch_handler_sees_every_body_at_once_and_only_failed_records_are_reported(executor):
    seen: list[list[str]] = []
    failed: list[tuple[str, str]] = []

    def handle(records: list[dict[str, Any]]) -> list[Exception | None]:
        seen.append([r["body"] for r in records])
        return [None if r["body"] == "ok" else RuntimeError(r["body"]) for r in records]

    answer = process_batch_together(
        SqsEvent(["ok", "bad-1", "ok", "bad-3"]),
        handle,
        executor,
        lambda record, exc: failed.append((record["messageId"], str(exc))),
    )

    assert seen == [["ok", "bad-1", "ok", "bad-3"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert failed == [("m-1", "bad-1"), ("m-3", "bad-3")]


def test_a_batch_whose_every_record_failed_is_answered_with_all_of_them_not_raised(executor):
    def handle(records: list[dict[str, Any]]) -> list[Exception | None]:
        raise ConnectionError("database down")

    answer = process_batch_together(SqsEvent(["a", "b"]), handle, executor)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}


def test_a_failing_retry_schedule_does_not_hide_the_failure(executor):
    def refuse(record: dict[str, Any], exc: Exception) -> None:
        raise OSError("visibility change refused")

    answer = process_batch_together(SqsEvent(["x"]), lambda records: [ValueError("x")], executor, refuse)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
