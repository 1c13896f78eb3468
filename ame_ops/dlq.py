"""Inspect and replay dead-lettered messages of AME's queues, against AWS or the local stack.

Replay moves a message back to the queue it died in: send first, delete from the DLQ after. A crash in
between leaves the message in both places, which is safe because every AME consumer is idempotent
(creation: one execution per attempt name and a compare-and-set claim; result: deliveries recorded
per order and channel). Each replayed message carries the id it had in the DLQ.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.queues import QUEUES

PEEK_VISIBILITY_SECONDS = 0
REPLAY_VISIBILITY_SECONDS = 60


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receive_count: int
    sent_at: str
    receipt_handle: str
    attributes: dict[str, Any]

    @property
    def order_key(self) -> str | None:
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data.get("order_key") if isinstance(data, dict) else None

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "order_key": self.order_key,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at,
            "body_bytes": len(self.body.encode()),
        }


class DeadLetters:
    def __init__(self, sqs: Any, queue: str, prefix: str = ""):
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}; one of: {', '.join(sorted(QUEUES))}")
        self._sqs = sqs
        spec = QUEUES[queue]
        self.source_url = sqs.get_queue_url(QueueName=f"{prefix}{spec.name}")["QueueUrl"]
        self.dlq_url = sqs.get_queue_url(QueueName=f"{prefix}{spec.dlq_name}")["QueueUrl"]

    def depth(self) -> int:
        attrs = self._sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def _receive(self, visibility: int) -> list[DeadLetter]:
        answer = self._sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        out = []
        for m in answer.get("Messages", []):
            attrs = m.get("Attributes", {})
            sent = attrs.get("SentTimestamp")
            out.append(
                DeadLetter(
                    message_id=m["MessageId"],
                    body=m["Body"],
                    receipt_handle=m["ReceiptHandle"],
                    receive_count=int(attrs.get("ApproximateReceiveCount", 0)),
                    sent_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(sent) / 1000)) if sent else "",
                    attributes=m.get("MessageAttributes", {}),
                )
            )
        return out

    def peek(self, limit: int = 100) -> list[DeadLetter]:
        """Look without taking: visibility 0, until no new message shows up (bounded)."""
        seen: dict[str, DeadLetter] = {}
        quiet = 0
        while len(seen) < limit and quiet < 3:
            batch = self._receive(PEEK_VISIBILITY_SECONDS)
            new = [m for m in batch if m.message_id not in seen]
            quiet = quiet + 1 if not new else 0
            for m in new:
                seen[m.message_id] = m
        return sorted(seen.values(), key=lambda m: (m.sent_at, m.message_id))[:limit]

    def show(self, message_id: str) -> DeadLetter | None:
        return next((m for m in self.peek(1000) if m.message_id == message_id), None)

    def replay(self, message_ids: Iterable[str] | None = None, limit: int = 1000) -> list[str]:
        """Move the chosen messages (all when None) back to their queue; returns the ids replayed."""
        wanted = set(message_ids) if message_ids is not None else None
        replayed: list[str] = []
        quiet = 0
        while len(replayed) < limit and quiet < 3:
            batch = self._receive(REPLAY_VISIBILITY_SECONDS)  # hidden while we move them
            chosen = [m for m in batch if wanted is None or m.message_id in wanted]
            quiet = quiet + 1 if not chosen else 0
            for m in chosen:
                self._sqs.send_message(
                    QueueUrl=self.source_url,
                    MessageBody=m.body,
                    MessageAttributes={"ame-replayed-from": {"DataType": "String", "StringValue": m.message_id}},
                )
                self._sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m.receipt_handle)
                replayed.append(m.message_id)
            for m in batch:
                if m not in chosen:  # not ours to move: make it visible again at once
                    self._sqs.change_message_visibility(
                        QueueUrl=self.dlq_url, ReceiptHandle=m.receipt_handle, VisibilityTimeout=0
                    )
            if wanted is not None and wanted <= set(replayed):
                break
        return replayed
