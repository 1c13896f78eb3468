"""The events Lambda hands AME's functions, and its context object: one builder each.

Only `json` (no typing, no chalicelib, no ame_local): a bench's measured child process imports it before its
clock starts without loading anything `import app` would load itself. tests/support.py re-exports it.
"""

from __future__ import annotations

import json

ACCOUNT = "123456789012"


class LambdaContext:
    """The Lambda context object, as much of it as the middleware and Powertools read."""

    aws_request_id = "lambda-request-1"
    function_name = "ame-dev-test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ame-dev-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


def sqs_record(body: str, message_id: str = "m-1", queue: str = "ame-envelope-creation") -> dict[str, object]:
    return {
        "messageId": message_id,
        "receiptHandle": f"r-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}",
    }


def sqs_event(*bodies: str, queue: str = "ame-envelope-creation") -> dict[str, object]:
    """An SQS batch of `bodies`, message ids m-0, m-1, ... (distinct, as partial-batch answers need)."""
    return {"Records": [sqs_record(body, f"m-{i}", queue) for i, body in enumerate(bodies)]}


def order_key_message(order_key: str) -> dict[str, object]:
    """The creation queue's message for one order, as one SQS event."""
    return sqs_event(json.dumps({"order_key": order_key}))


def schedule_event(event_id: str = "e") -> dict[str, object]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-29T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def api_event(
    method: str,
    path: str,
    resource: str,
    scope: str,
    body: str | None = None,
    path_params: dict[str, str] | None = None,
    areas: str = "CREDITO_PJ",
) -> dict[str, object]:
    """A REST API proxy event that API Gateway hands the API handler after the authorizer let it through."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "body": body,
        "headers": {"content-type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": path_params,
        "stageVariables": None,
        "isBase64Encoded": False,
        # What API Gateway passes on from the authorizer (a function of its own) to the API handler.
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "requestId": "lambda-request-1",
            "authorizer": {"client_id": "bench", "scope": scope, "areas": areas},
        },
    }
