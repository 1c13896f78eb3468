"""AWS adapters of chalicelib against moto: SQS queue, Step Functions starter, secrets; ASL rendering."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from chalice import Chalice

from ame_local.aws import LocalAws
from chalicelib.adapters.aws import SecretsManagerSecrets, SqsMessageQueue, StepFunctionsStarter
from chalicelib.asl import (
    UnfilledPlaceholders,
    function_arn_placeholders,
    logical_id,
    render_asl,
)
from chalicelib.queues import QUEUES
from tests.support import wait_for

PREFIX = "adapters-"


def sqs_client():
    return boto3.client("sqs", region_name="us-east-1")


def sfn_client():
    return boto3.client("stepfunctions", region_name="us-east-1")


def secrets_client():
    return boto3.client("secretsmanager", region_name="us-east-1")


def build_fake_app(started: list[str]) -> Chalice:
    app = Chalice(app_name="ame-fake-adapters")

    @app.lambda_function(name="start_processing")
    def start_processing(event, context):
        started.append(event["order_key"])
        return {"order_key": event["order_key"]}

    return app


PLACEHOLDER_WORKFLOW = json.dumps(
    {
        "StartAt": "StartProcessing",
        "States": {
            "StartProcessing": {
                "Type": "Task",
                "Resource": "${StartProcessingArn}",
                "Parameters": {"order_key.$": "$.order_key"},
                "End": True,
            }
        },
    }
)


@pytest.fixture(scope="module")
def started() -> list[str]:
    return []


@pytest.fixture(scope="module")
def aws(started):
    with LocalAws(
        build_fake_app(started), queue_prefix=PREFIX, statemachine_text=PLACEHOLDER_WORKFLOW, speedups=True
    ) as running:
        yield running


class CountingClient:
    """The real moto client, counting get_queue_url calls to show the URL is cached."""

    def __init__(self, client):
        self._client = client
        self.url_lookups = 0

    def get_queue_url(self, **kwargs):
        self.url_lookups += 1
        return self._client.get_queue_url(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


# -- SqsMessageQueue ---------------------------------------------------------------------------


def test_send_puts_the_body_on_the_prefixed_queue_and_returns_its_message_id(aws):
    queue = SqsMessageQueue(sqs_client, prefix=PREFIX)
    body = json.dumps({"order_key": uuid.uuid4().hex})

    message_id = queue.send("creation", body)

    received = sqs_client().receive_message(QueueUrl=aws.queue_url("creation"), WaitTimeSeconds=1)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in received] == [(message_id, body)]
    assert aws.queue_url("creation").endswith("/" + PREFIX + QUEUES["creation"].name)


def test_queue_url_is_looked_up_once_and_the_client_built_once(aws):
    clients = []

    def factory():
        clients.append(CountingClient(sqs_client()))
        return clients[-1]

    queue = SqsMessageQueue(factory, prefix=PREFIX)
    assert clients == []  # lazily: nothing built before the first send

    queue.send("result", "a")
    queue.send("result", "b")

    assert len(clients) == 1
    assert clients[0].url_lookups == 1


def test_delayed_message_stays_invisible_until_its_delay_passes(aws):
    queue = SqsMessageQueue(sqs_client, prefix=PREFIX)

    queue.send("envelope_ready", "later", delay_seconds=1)

    url = aws.queue_url("envelope_ready")
    assert sqs_client().receive_message(QueueUrl=url).get("Messages", []) == []
    later = wait_for(lambda: sqs_client().receive_message(QueueUrl=url).get("Messages"), timeout=5)
    assert [m["Body"] for m in later] == ["later"]


def test_a_queue_ame_does_not_define_is_an_error(aws):
    with pytest.raises(KeyError):
        SqsMessageQueue(sqs_client, prefix=PREFIX).send("no_such_queue", "x")


# -- StepFunctionsStarter ------------------------------------------------------------------------


def test_start_runs_the_workflow_named_after_the_order(aws, started):
    starter = StepFunctionsStarter(sfn_client, aws.state_machine_arn)
    order_key = f"ORD-{uuid.uuid4().hex[:12]}"

    assert starter.start(order_key, {"source": "test"}) is True

    arn = aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + order_key
    execution = wait_for(
        lambda: (d := sfn_client().describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=10
    )
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["input"]) == {"source": "test", "order_key": order_key}
    assert started.count(order_key) == 1


def test_duplicate_start_is_a_noop_that_answers_false(aws, started):
    starter = StepFunctionsStarter(sfn_client, aws.state_machine_arn)
    order_key = f"ORD-{uuid.uuid4().hex[:12]}"
    assert starter.start(order_key, {}) is True
    arn = aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + order_key
    # While an execution runs, Step Functions answers a start with the same name and input with that
    # execution (no error); once it has finished, the same start is ExecutionAlreadyExists.
    wait_for(lambda: sfn_client().describe_execution(executionArn=arn)["status"] != "RUNNING", timeout=10)

    assert starter.start(order_key, {}) is False
    assert starter.start(order_key, {"other": "input"}) is False

    executions = sfn_client().list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(order_key) == 1
    assert started.count(order_key) == 1
    assert starter.is_running(arn) is False
    assert starter.is_running(arn + "-never-started") is False


def test_other_start_errors_are_not_swallowed(aws):
    missing = aws.state_machine_arn + "-missing"

    with pytest.raises(Exception) as raised:
        StepFunctionsStarter(sfn_client, missing).start("ORD-X", {})

    assert "StateMachineDoesNotExist" in str(raised.value)


# -- SecretsManagerSecrets ------------------------------------------------------------------------


def test_secret_is_read_by_ref_and_cached_for_its_ttl(aws):
    ref = f"ame/webhooks/T_{uuid.uuid4().hex[:6]}"
    secrets_client().create_secret(Name=ref, SecretString="whsec_b25l")
    now = [100.0]
    secrets = SecretsManagerSecrets(secrets_client, ttl_seconds=60, monotonic=lambda: now[0])

    assert secrets.get(ref) == "whsec_b25l"
    secrets_client().put_secret_value(SecretId=ref, SecretString="whsec_dHdv")
    assert secrets.get(ref) == "whsec_b25l"
    now[0] += 61
    assert secrets.get(ref) == "whsec_dHdv"


# -- ASL rendering -------------------------------------------------------------------------------


def test_render_fills_placeholders_and_leaves_jsonpath_alone():
    template = '{"Resource": "${LoadOrderArn}", "Parameters": {"k.$": "$.order_key", "e.$": "$$.Execution.Id"}, "IntervalSeconds": ${RetryIntervalSeconds}}'

    rendered = render_asl(template, {"LoadOrderArn": "arn:x", "RetryIntervalSeconds": "2", "Unused": "y"})

    assert json.loads(rendered) == {
        "Resource": "arn:x",
        "Parameters": {"k.$": "$.order_key", "e.$": "$$.Execution.Id"},
        "IntervalSeconds": 2,
    }


def test_render_refuses_a_template_with_an_unfilled_placeholder():
    with pytest.raises(UnfilledPlaceholders) as raised:
        render_asl('{"a": "${OneArn}", "b": "${Two}"}', {"OneArn": "x"})

    assert raised.value.names == ["Two"]


def test_function_placeholders_follow_chalice_logical_ids():
    assert logical_id("load_order") == "LoadOrder"
    assert logical_id("start_processing") == "StartProcessing"
    assert function_arn_placeholders(["start_processing", "load_order"], lambda n: f"arn:{n}") == {
        "StartProcessingArn": "arn:start_processing",
        "LoadOrderArn": "arn:load_order",
    }
