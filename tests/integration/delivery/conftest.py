"""One local stack for the result-delivery tests: the simulator, moto, and a product's webhook receiver
on an ephemeral loopback port, with delivery timings shrunk to seconds."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ame_local.config import LocalConfig
from ame_local.pollers import QueuePoller, sqs_record
from ame_local.stack import LocalStack
from ame_local.webhook_receiver import WebhookReceiver
from chalicelib.bootstrap import container
from chalicelib.queues import QUEUES
from tests.support import seed_with_webhook, wait_for

SECRET = "whsec_" + base64.b64encode(b"delivery-tests-secret-32-bytes!!").decode()
HOOK_PATH = "/hooks/credito-pj"
SECRET_REF = "ame/webhooks/CREDITO_PJ"
TIMINGS = {
    "AME_DELIVERY_BACKOFF_BASE_SECONDS": "1",
    "AME_DELIVERY_BACKOFF_MAX_SECONDS": "1",
    "AME_DELIVERY_LEASE_SECONDS": "2",
    "AME_WEBHOOK_TIMEOUT_SECONDS": "2",
}


@pytest.fixture(scope="package")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver({HOOK_PATH: SECRET}) as running:
        yield running


@pytest.fixture(scope="package")
def stack(tmp_path_factory, receiver) -> Iterator[LocalStack]:
    seed = seed_with_webhook(tmp_path_factory.mktemp("seed"), "CREDITO_PJ", receiver.base_url + HOOK_PATH, SECRET_REF)
    db = tmp_path_factory.mktemp("delivery") / "ame.sqlite3"
    config = LocalConfig(
        port=0,
        partners_port=0,
        database_url=f"sqlite:///{db}",
        serve_http=False,
        simulator_seed_dir=str(seed),
        secrets={SECRET_REF: SECRET},
        visibility_timeout=5,
        schedule_interval_seconds=3600.0,
        webhook_receiver=False,
    )
    with pytest.MonkeyPatch.context() as env:
        for name, value in TIMINGS.items():
            env.setenv(name, value)
        with LocalStack(config) as running:
            yield running


def create_order(body: dict[str, Any]) -> str:
    return container().intake.create("local", body).order.order_key


def terminal(order_key: str):
    return wait_for(
        lambda: (o := container().repository.get_order(order_key)) and o.status.terminal and o,
        what=f"terminal status of {order_key}",
    )


@contextmanager
def result_poller_paused(stack: LocalStack) -> Iterator[None]:
    """Stop consuming the result queue so a test can hand records to the handler itself."""
    sources = stack.event_sources
    poller = sources.pollers["result"]
    poller.request_stop()
    poller.join(5.0)
    try:
        yield
    finally:
        fresh = QueuePoller(
            poller.spec, poller.handler, poller.sqs, poller.queue_url, poller.queue_arn, poller.wait_seconds
        )
        sources.pollers["result"] = fresh
        fresh.start()


def take_result_messages(stack: LocalStack, order_keys: set[str], timeout: float = 30.0) -> dict[str, dict]:
    """Receive (and hold for 60 s) the result-queue message of each order; others are let go at once."""
    sqs, url = stack.sqs, stack.queue_url("result")
    taken: dict[str, dict] = {}

    def poll() -> bool:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60, AttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            key = _order_key(message["Body"])
            if key in order_keys:
                taken[key] = message
            else:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return order_keys <= set(taken)

    wait_for(poll, timeout, what=f"result messages of {sorted(order_keys)}")
    return taken


def _order_key(body: str) -> str | None:
    try:
        return json.loads(body).get("order_key")
    except (ValueError, AttributeError):
        return None


def invoke_result_handler(stack: LocalStack, messages: list[dict]) -> Any:
    """Hand one batch to on_result_message exactly as the event source mapping does."""
    from ame_local.aws import lambda_context

    event = {"Records": [sqs_record(m, stack.aws.queue_arns["result"]) for m in messages]}
    spec = QUEUES["result"]
    return stack.app.handler_map[spec.consumer](event, lambda_context(spec.consumer, spec.consumer_timeout))


def delete_messages(stack: LocalStack, messages: list[dict]) -> None:
    for message in messages:
        stack.sqs.delete_message(QueueUrl=stack.queue_url("result"), ReceiptHandle=message["ReceiptHandle"])


def peek(queue_name: str) -> list[dict]:
    """The messages on a queue, read from moto's state: receiving them would count towards its redrive."""
    from moto.sqs.models import sqs_backends

    from ame_local.config import ACCOUNT_ID, REGION

    queue = sqs_backends[ACCOUNT_ID][REGION].queues[queue_name]
    return [
        {"body": m.body, "attributes": {k: v.get("string_value") for k, v in (m.message_attributes or {}).items()}}
        for m in list(queue._messages)
    ]
