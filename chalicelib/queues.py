"""The one definition of AME's queues: names, DLQs, timeouts and consumers.

The local stack creates exactly these, and the deploy template is generated from them.
"""

from __future__ import annotations


class QueueSpec:
    """One queue. A plain class rather than a dataclass: every Lambda function imports this module at
    cold start (app.py -> queue_handlers), and `dataclasses` with `inspect` costs more than AME's own
    declarations together. Treat instances as read-only."""

    def __init__(
        self,
        logical: str,
        name: str,
        consumer: str | None,
        batch_size: int = 1,
        visibility_timeout: int = 180,
        max_receive_count: int = 5,
        consumer_timeout: int = 30,
    ):
        self.logical = logical  # how code names the queue ("creation")
        self.name = name  # the SQS queue name (per stage a prefix is added)
        self.consumer = consumer  # Chalice function that consumes it, if AME does
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout  # >= 6 x the consumer's timeout (AWS guidance)
        self.max_receive_count = max_receive_count  # deliveries before the message goes to the DLQ
        self.consumer_timeout = consumer_timeout

    def __repr__(self) -> str:
        return f"QueueSpec({self.__dict__})"

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
