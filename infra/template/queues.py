"""Every queue of chalicelib/queues.py with its dead-letter queue and the alarm on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.queues import QueueSpec
from infra.template.common import CRITICAL, TemplateError, alarm, dlq_logical_id, get_att, queue_arn


def resources(queues: Mapping[str, QueueSpec], consumer_timeouts: Mapping[str, int]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for spec in queues.values():
        timeout = consumer_timeouts.get(spec.consumer or "", spec.consumer_timeout)
        if spec.consumer and spec.visibility_timeout < 6 * timeout:
            raise TemplateError(
                f"queue {spec.name}: visibility timeout {spec.visibility_timeout}s is below 6 x "
                f"the consumer's timeout {timeout}s (chalicelib/queues.py)"
            )
        dlq = dlq_logical_id(spec)
        resources[dlq] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": spec.dlq_name,
                "MessageRetentionPeriod": 1209600,  # 14 days: time to find the cause and replay
                "SqsManagedSseEnabled": True,
                "RedriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn(spec)]},
            },
        }
        resources[spec.logical_id] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                # The name the Chalice decorator names, so its event source resolves to this queue.
                "QueueName": spec.name,
                "VisibilityTimeout": spec.visibility_timeout,
                "MessageRetentionPeriod": 345600,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": get_att(dlq, "Arn"),
                    "maxReceiveCount": spec.max_receive_count,
                },
            },
        }
        resources[dlq + "Alarm"] = alarm(
            f"{spec.dlq_name} has messages: a {spec.logical} message failed {spec.max_receive_count} times "
            "(docs/runbook.md, replaying a DLQ)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": get_att(dlq, "QueueName")},
            0,
            severity=CRITICAL,  # an event or an order is stuck until someone replays it
        )
    return resources
