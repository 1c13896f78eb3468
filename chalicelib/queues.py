"""The one definition of AME's queues: names, DLQs, timeouts and consumers.

The local stack creates exactly these, and the deploy template is generated from them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSpec:
    logical: str            # how code names the queue ("creation")
    name: str               # the SQS queue name (per stage a prefix is added)
    consumer: str | None    # Chalice function that consumes it, if AME does
    batch_size: int = 1
    visibility_timeout: int = 180   # >= 6 x the consumer's timeout (AWS guidance)
    max_receive_count: int = 5      # deliveries before the message goes to the DLQ
    consumer_timeout: int = 30

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"

    @property
    def logical_id(self) -> str:
        return "".join(p.capitalize() for p in self.logical.split("_")) + "Queue"


QUEUES: dict[str, QueueSpec] = {
    q.logical: q
    for q in (
        QueueSpec("creation", "ame-envelope-creation", consumer="on_creation_message", batch_size=10),
        QueueSpec("result", "ame-envelope-result", consumer="on_result_message", batch_size=10),
        QueueSpec("envelope_ready", "ame-envelope-ready", consumer=None),
    )
}


def queue_name(logical: str, prefix: str = "") -> str:
    return f"{prefix}{QUEUES[logical].name}"
