"""Local event sources: queues polled into their Chalice handlers as Lambda does, schedules on timers."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ame_local.aws import lambda_context
from ame_local.config import ACCOUNT_ID, FUNCTION_PREFIX, REGION
from chalicelib.queues import QUEUES, QueueSpec

logger = logging.getLogger("ame_local.pollers")

SQS_MAX_BATCH = 10  # ReceiveMessage hands over at most 10 messages per call
# Chaos: a record kept for a second delivery comes back after this long, whatever the visibility timeout.
DUPLICATE_AFTER_SECONDS = 1


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, from a ReceiveMessage message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda spells the attribute fields in camelCase, ReceiveMessage in PascalCase.
    converted = {}
    for name, value in attributes.items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def scheduled_event(rule_name: str, now: datetime | None = None) -> dict[str, Any]:
    """A CloudWatch Events / EventBridge "Scheduled Event", as a schedule's Lambda receives it."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{FUNCTION_PREFIX}{rule_name}"],
        "detail": {},
    }


def failed_message_ids(result: Any, batch_ids: list[str]) -> set[str]:
    """The ids Lambda would leave on the queue, from a handler's partial batch response.

    As in AWS, an answer that names an id outside the batch (or no id) fails the whole batch."""
    if not isinstance(result, Mapping) or "batchItemFailures" not in result:
        return set()
    failures = result.get("batchItemFailures") or []
    ids: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not item or item not in batch_ids:
            return set(batch_ids)
        ids.add(item)
    return ids


class _Loop:
    """A daemon thread running `_run` until asked to stop: the shape of every event source here."""

    def __init__(self, thread_name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)


@dataclass
class QueueStats:
    batches: int = 0
    delivered: int = 0  # records deleted after their handler succeeded
    failed: int = 0  # records left to reappear after the visibility timeout
    duplicated: int = 0  # chaos: handled records left on the queue on purpose, to be delivered again
    errors: list[str] = field(default_factory=list)


class QueuePoller(_Loop):
    """Long-polls one queue and hands each batch to the queue's Chalice SQS handler."""

    def __init__(
        self,
        spec: QueueSpec,
        handler: Callable[[dict, Any], Any],
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        wait_seconds: int = 1,
        duplicate_rate: float = 0.0,
        rng: random.Random | None = None,
    ):
        self.spec = spec
        self.handler = handler
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.wait_seconds = wait_seconds
        self.duplicate_rate = duplicate_rate
        self._rng = rng or random.Random()
        self.stats = QueueStats()
        super().__init__(f"ame-local-poller-{spec.logical}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(self.spec.batch_size, SQS_MAX_BATCH),
                    WaitTimeSeconds=self.wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("receiving from %s failed", self.spec.name)
                self._stop.wait(1.0)
                continue
            if messages:
                self.deliver(messages)

    def deliver(self, messages: list[dict[str, Any]]) -> None:
        """Run the handler on one batch and delete what succeeded, as Lambda's event source mapping
        does; the rest becomes visible again and, after maxReceiveCount, moto moves it to the DLQ."""
        ids = [m["MessageId"] for m in messages]
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        self.stats.batches += 1
        try:
            result = self.handler(event, lambda_context(self.spec.consumer or "", self.spec.consumer_timeout))
            failed = failed_message_ids(result, ids)
        except Exception as exc:
            logger.exception("handler %s failed a batch of %d", self.spec.consumer, len(ids))
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            failed = set(ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        self.stats.failed += len(ids) - len(done)
        kept: list[dict[str, Any]] = []
        if self.duplicate_rate:
            done, kept = self._keep_some_for_a_second_delivery(done)
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            self.stats.delivered += len(done)
        if kept:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": DUPLICATE_AFTER_SECONDS}
                    for i, m in enumerate(kept)
                ],
            )

    def _keep_some_for_a_second_delivery(
        self, done: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Chaos: SQS is at-least-once, so some handled records are not deleted but delivered again a
        moment later: (to delete, to deliver again). Only on a record's first receive, so a duplicate
        never nears the DLQ."""
        deleted, kept = [], []
        for message in done:
            first = str(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) == "1"
            if first and self._rng.random() < self.duplicate_rate:
                kept.append(message)
            else:
                deleted.append(message)
        self.stats.duplicated += len(kept)
        return deleted, kept


class ScheduleTimer(_Loop):
    """Fires one scheduled Chalice handler every `interval_seconds`: the first after one interval, or at
    once when `at_start` (then every interval)."""

    def __init__(self, name: str, handler: Callable[[dict, Any], Any], interval_seconds: float, at_start: bool = False):
        self.name = name
        self.handler = handler
        self.interval_seconds = interval_seconds
        self.at_start = at_start
        self.fired = 0
        self.errors = 0
        super().__init__(f"ame-local-schedule-{name}")

    def _run(self) -> None:
        if self.at_start and not self._stop.is_set():
            self.fire()
        while not self._stop.wait(self.interval_seconds):
            self.fire()

    def fire(self) -> None:
        try:
            self.handler(scheduled_event(self.name), lambda_context(self.name))
        except Exception:
            self.errors += 1
            logger.exception("scheduled handler %s failed", self.name)
        finally:
            self.fired += 1


class EventSources:
    """Every queue consumer and every schedule of a Chalice app, running on threads."""

    def __init__(
        self,
        app: Any,
        sqs_client: Any,
        queue_urls: Mapping[str, str],
        queue_arns: Mapping[str, str],
        schedule_interval_seconds: float = 10.0,
        wait_seconds: int = 1,
        schedule_intervals: Mapping[str, float] | None = None,
        queues: Mapping[str, QueueSpec] = QUEUES,
        paused: Collection[str] = (),
        duplicate_rate: float = 0.0,
        seed: int = 0,
        at_start: Collection[str] = (),
    ):
        self.pollers: dict[str, QueuePoller] = {}
        self.schedules: dict[str, ScheduleTimer] = {}
        for logical, spec in queues.items():
            if spec.consumer is None:
                continue
            if logical in paused:  # benchmarks isolate the API by leaving a consumer off
                logger.warning("queue %s: paused by configuration; not polled", spec.name)
                continue
            handler = app.handler_map.get(spec.consumer)
            if handler is None:
                logger.warning("queue %s: the app has no handler %s; not polled", spec.name, spec.consumer)
                continue
            self.pollers[logical] = QueuePoller(
                spec,
                handler,
                sqs_client,
                queue_urls[logical],
                queue_arns[logical],
                wait_seconds,
                duplicate_rate=duplicate_rate,
                rng=random.Random(f"{seed}:{logical}"),
            )
        from chalice.app import ScheduledEventConfig

        for source in getattr(app, "event_sources", []):
            if isinstance(source, ScheduledEventConfig) and source.name in app.handler_map:
                interval = (schedule_intervals or {}).get(source.name, schedule_interval_seconds)
                self.schedules[source.name] = ScheduleTimer(
                    source.name, app.handler_map[source.name], interval, at_start=source.name in at_start
                )

    def start(self) -> None:
        for runner in self._runners():
            runner.start()

    def stop(self, timeout: float = 5.0) -> None:
        runners = self._runners()
        for runner in runners:
            runner.request_stop()
        deadline = time.monotonic() + timeout
        for runner in runners:
            runner.join(max(0.0, deadline - time.monotonic()))

    def _runners(self) -> list[Any]:
        return [*self.pollers.values(), *self.schedules.values()]
