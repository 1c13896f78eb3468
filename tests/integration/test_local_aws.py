"""The local stack's AWS: Lambda dispatch from the state machine, queue polling with redrive, schedules,
secrets and the HTTP server, driven by a small Chalice app of the test's own."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest
import requests
from chalice import Chalice

from ame_local import speedups
from ame_local.aws import chalice_function_name
from ame_local.config import PARTNER_URL_VARIABLES, REPO_ROOT, LocalConfig, function_arn
from ame_local.pollers import failed_message_ids
from ame_local.secrets import LocalSecretsStore, generate_webhook_secret, secret_refs_in
from ame_local.stack import LocalStack
from chalicelib.asl import (
    UnfilledPlaceholders,
    function_arn_placeholders,
    load_definition,
    render_definition,
    retry_rules,
)
from chalicelib.queues import QUEUES
from tests.support import wait_for


class PartnerUnavailable(Exception):
    """Named like the real transient partner error, which the workflow retries by errorType."""


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def add(self, kind: str, value: object) -> None:
        with self.lock:
            self.events.append((kind, value))

    def of(self, kind: str) -> list[object]:
        with self.lock:
            return [v for k, v in self.events if k == kind]


def build_fake_app(recorder: Recorder) -> Chalice:
    app = Chalice(app_name="ame-fake")

    @app.route("/health")
    def health():
        return {"status": "ok"}

    @app.lambda_function(name="start_processing")
    def start_processing(event, context):
        recorder.add("start_processing", (event, context.function_name))
        recorder.add("start_processing_thread", threading.current_thread().name)
        return {"order_key": event["order_key"], "status": "PROCESSING"}

    @app.lambda_function(name="slow_task")
    def slow_task(event, context):
        recorder.add("slow_task", threading.current_thread().name)
        recorder.release.wait(10)  # until the test has seen the state time out
        return {"order_key": event["order_key"]}

    @app.lambda_function(name="call_partner")
    def call_partner(event, context):
        recorder.add("call_partner", event["order_key"])
        raise PartnerUnavailable("Poderes não respondeu")

    @app.on_sqs_message(queue="ame-envelope-creation", batch_size=10, name="on_creation_message")
    def on_creation_message(event):
        failures = []
        for record in event:
            recorder.add("sqs", (record.body, int(record.to_dict()["attributes"]["ApproximateReceiveCount"])))
            if record.body.startswith("fail:"):
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
            if record.body.startswith("raise:"):
                raise RuntimeError("handler broke the batch")
        return {"batchItemFailures": failures}

    @app.schedule("rate(1 minute)", name="relay_outbox")
    def relay_outbox(event):
        recorder.add("schedule", event.to_dict())

    return app


RETRYING_WORKFLOW = """
{
  "StartAt": "CallPartner",
  "States": {
    "CallPartner": {
      "Type": "Task",
      "Resource": "${CallPartnerArn}",
      "Parameters": {"order_key.$": "$.order_key"},
      "Retry": [{"ErrorEquals": ["PartnerUnavailable"], "IntervalSeconds": 30,
                 "MaxAttempts": 1, "BackoffRate": 1.0}],
      "Catch": [{"ErrorEquals": ["PartnerUnavailable"], "ResultPath": "$.error", "Next": "MarkFailed"}],
      "End": true
    },
    "MarkFailed": {"Type": "Pass", "End": true}
  }
}
"""


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


PLACEHOLDER_WORKFLOW = """
{
  "StartAt": "StartProcessing",
  "States": {
    "StartProcessing": {
      "Type": "Task",
      "Resource": "${StartProcessingArn}",
      "Parameters": {"order_key.$": "$.order_key"},
      "End": true
    }
  }
}
"""


@pytest.fixture(scope="module")
def stack(recorder: Recorder, tmp_path_factory):
    # The test's own copy of a one-Task workflow: the repository's statemachine.asl.json is the real one.
    statemachine = tmp_path_factory.mktemp("asl") / "statemachine.asl.json"
    statemachine.write_text(PLACEHOLDER_WORKFLOW, encoding="utf-8")
    config = LocalConfig(
        statemachine_path=statemachine,
        port=0,
        run_migrations=False,
        partner_urls={name: "http://127.0.0.1:9" for name in PARTNER_URL_VARIABLES},
        visibility_timeout=1,
        schedule_interval_seconds=0.2,
        secrets={"ame/webhooks/SEEDED": "whsec_c2VlZGVk"},
    )
    with LocalStack(config, app=build_fake_app(recorder)) as running:
        yield running


def run_execution(sfn, state_machine_arn: str, order_key: str) -> dict:
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=order_key, input=json.dumps({"order_key": order_key})
    )["executionArn"]
    return wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=15)


def test_placeholder_workflow_invokes_the_chalice_lambda_and_succeeds(stack, recorder):
    order_key = f"ORD-{uuid.uuid4().hex[:10]}"

    execution = run_execution(stack.sfn, stack.state_machine_arn, order_key)

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"order_key": order_key, "status": "PROCESSING"}
    assert ({"order_key": order_key}, "ame-local-start_processing") in recorder.of("start_processing")


def test_a_task_without_timeout_seconds_runs_on_the_interpreters_thread(stack, recorder):
    order_key = f"ORD-{uuid.uuid4().hex[:10]}"
    before = len(recorder.of("start_processing_thread"))

    assert run_execution(stack.sfn, stack.state_machine_arn, order_key)["status"] == "SUCCEEDED"

    (thread,) = recorder.of("start_processing_thread")[before:]
    assert "_exec_and_notify" not in thread  # moto's per-Task thread, kept for Tasks that can time out


def test_a_task_with_timeout_seconds_still_times_out(stack, recorder):
    workflow = {
        "StartAt": "Slow",
        "States": {"Slow": {"Type": "Task", "Resource": "${SlowTaskArn}", "TimeoutSeconds": 1, "End": True}},
    }
    definition = json.dumps(
        render_definition(workflow, function_arn_placeholders(["slow_task"], function_arn), retry={})
    )
    arn = stack.sfn.create_state_machine(
        name=f"slow-{uuid.uuid4().hex[:6]}", definition=definition, roleArn="arn:aws:iam::123456789012:role/test"
    )["stateMachineArn"]
    try:
        execution = run_execution(stack.sfn, arn, f"ORD-{uuid.uuid4().hex[:10]}")
    finally:
        recorder.release.set()

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Timeout"
    assert "_exec_and_notify" in recorder.of("slow_task")[-1]


def test_handler_exception_is_retried_and_caught_by_its_error_type(stack, recorder):
    definition = json.dumps(
        render_definition(
            load_definition(RETRYING_WORKFLOW),
            function_arn_placeholders(["call_partner"], function_arn),
            retry={"RetryIntervalSeconds": "1"},  # 30 s as written: the test would time out without it
        )
    )
    arn = stack.sfn.create_state_machine(
        name=f"retrying-{uuid.uuid4().hex[:6]}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    order_key = f"ORD-{uuid.uuid4().hex[:10]}"

    execution = run_execution(stack.sfn, arn, order_key)

    assert execution["status"] == "SUCCEEDED"
    error = json.loads(execution["output"])["error"]
    assert error["Error"] == "PartnerUnavailable"
    assert json.loads(error["Cause"])["errorMessage"] == "Poderes não respondeu"
    assert recorder.of("call_partner").count(order_key) == 2  # the first try and one retry


def _retrying_state_machine(stack) -> tuple[str, str]:
    definition = json.dumps(
        render_definition(
            load_definition(RETRYING_WORKFLOW),
            function_arn_placeholders(["call_partner"], function_arn),
            retry={"RetryIntervalSeconds": "1"},
        )
    )
    arn = stack.sfn.create_state_machine(
        name=f"retrying-{uuid.uuid4().hex[:6]}", definition=definition, roleArn="arn:aws:iam::123456789012:role/test"
    )["stateMachineArn"]
    return arn, definition


def test_executions_of_one_definition_evaluate_one_program_whose_heap_keys_are_set_before_sharing(stack):
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    _, definition = _retrying_state_machine(stack)
    program, tree = AmazonStateLanguageParser.parse(definition)

    assert AmazonStateLanguageParser.parse(definition) == (program, tree)  # parsed and built once
    found, pending = [], [program]
    while pending:
        item = pending.pop()
        if isinstance(item, MaxAttemptsDecl):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
            pending.extend(vars(item).values())
    # the retrier's attempt counter is named in each execution's own heap by this key, set once, up front
    assert [m._EvalComponent__heap_key is not None for m in found] == [True]


def test_concurrent_executions_of_one_program_keep_their_own_retry_counts(stack, recorder):
    arn, _ = _retrying_state_machine(stack)
    keys = [f"ORD-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    arns = [
        stack.sfn.start_execution(stateMachineArn=arn, name=k, input=json.dumps({"order_key": k}))["executionArn"]
        for k in keys
    ]

    done = [
        wait_for(
            lambda a=a: (d := stack.sfn.describe_execution(executionArn=a))["status"] != "RUNNING" and d, timeout=15
        )
        for a in arns
    ]

    assert [d["status"] for d in done] == ["SUCCEEDED"] * 4
    # Each execution tried once and retried once: no execution used up another's retry.
    assert [recorder.of("call_partner").count(k) for k in keys] == [2, 2, 2, 2]


def test_the_pollers_direct_sqs_client_answers_as_boto3_does(stack):
    direct = stack.aws.event_source_sqs()
    assert isinstance(direct, speedups.DirectSqsClient)
    url = stack.sqs.create_queue(QueueName=f"direct-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    stack.sqs.send_message(
        QueueUrl=url,
        MessageBody="corpo",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "result"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    receive = {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}
    everything = {"AttributeNames": ["All"], "MessageAttributeNames": ["All"]}

    (by_boto3,) = stack.sqs.receive_message(**receive, **everything)["Messages"]
    (by_direct,) = direct.receive_message(**receive, **everything)["Messages"]

    moving = {"ReceiptHandle", "Attributes"}  # a new handle and receive count per receive
    assert {k: v for k, v in by_direct.items() if k not in moving} == {
        k: v for k, v in by_boto3.items() if k not in moving
    }
    assert by_direct["Attributes"].keys() == by_boto3["Attributes"].keys()
    assert int(by_direct["Attributes"]["ApproximateReceiveCount"]) == 2
    assert by_direct["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"
    hidden = direct.change_message_visibility_batch(
        QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": by_direct["ReceiptHandle"], "VisibilityTimeout": 30}]
    )
    assert hidden == {"Successful": [{"Id": "0"}], "Failed": []}
    assert direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10) == {}  # hidden: nothing to receive
    deleted = direct.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "0", "ReceiptHandle": by_direct["ReceiptHandle"]}, {"Id": "1", "ReceiptHandle": "no-such"}],
    )
    assert deleted["Successful"] == [{"Id": "0"}] and [f["Id"] for f in deleted["Failed"]] == ["1"]
    assert stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ] == {"ApproximateNumberOfMessages": "0"}


def test_poller_delivers_a_message_to_the_sqs_handler_and_deletes_it(stack, recorder):
    body = f"order {uuid.uuid4().hex}"

    stack.sqs.send_message(QueueUrl=stack.queue_url("creation"), MessageBody=body)

    wait_for(lambda: (body, 1) in recorder.of("sqs"), timeout=10)
    attributes = wait_for(
        lambda: (
            (
                a := stack.sqs.get_queue_attributes(
                    QueueUrl=stack.queue_url("creation"),
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
            )
            and a["ApproximateNumberOfMessages"] == "0"
            and a["ApproximateNumberOfMessagesNotVisible"] == "0"
            and a
        ),
        timeout=10,
    )
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_reported_failure_reappears_then_lands_in_the_dlq_after_max_receive_count(stack, recorder):
    body = f"fail:{uuid.uuid4().hex}"
    max_receives = QUEUES["creation"].max_receive_count

    stack.sqs.send_message(QueueUrl=stack.queue_url("creation"), MessageBody=body)

    dead = wait_for(
        lambda: stack.sqs.receive_message(QueueUrl=stack.dlq_url("creation"), WaitTimeSeconds=1).get("Messages"),
        timeout=max_receives * 2 + 5,
    )
    assert [m["Body"] for m in dead] == [body]
    receive_counts = [count for seen, count in recorder.of("sqs") if seen == body]
    assert receive_counts == list(range(1, max_receives + 1))


def test_a_handler_exception_fails_the_whole_batch(stack, recorder):
    body = f"raise:{uuid.uuid4().hex}"

    stack.sqs.send_message(QueueUrl=stack.queue_url("creation"), MessageBody=body)

    wait_for(lambda: (body, 2) in recorder.of("sqs"), timeout=10)
    assert stack.event_sources.pollers["creation"].stats.errors


def test_partial_batch_answer_naming_an_unknown_id_fails_the_whole_batch():
    ids = ["a", "b"]

    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ids) == {"a"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids(None, ids) == set()


def test_schedule_fires_the_handler_with_a_scheduled_event(stack, recorder):
    fired = wait_for(lambda: len(recorder.of("schedule")) >= 2 and recorder.of("schedule"), timeout=5)

    assert fired[0]["detail-type"] == "Scheduled Event"
    assert fired[0]["source"] == "aws.events"
    assert fired[0]["resources"][0].endswith(":rule/ame-local-relay_outbox")


@pytest.mark.parametrize("at_start", [True, False])
def test_a_schedule_fires_at_start_only_when_asked_then_every_interval(at_start):
    from ame_local.pollers import ScheduleTimer

    calls = []
    timer = ScheduleTimer("export_analytics", lambda event, context: calls.append(event), 60.0, at_start=at_start)
    timer.start()
    if at_start:
        wait_for(lambda: timer.fired == 1, timeout=5)
    timer.request_stop()
    timer.join(5)

    assert timer.fired == len(calls) == (1 if at_start else 0)  # the next one would come a minute later
    assert all(e["resources"][0].endswith(":rule/ame-local-export_analytics") for e in calls)


def test_api_answers_health_over_http(stack):
    response = requests.get(f"{stack.api_url}/health", timeout=5)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_every_queue_has_its_dlq_and_the_spec_redrive_policy(stack):
    for logical, spec in QUEUES.items():
        attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url(logical), AttributeNames=["All"])[
            "Attributes"
        ]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":" + spec.dlq_name)
        assert int(redrive["maxReceiveCount"]) == spec.max_receive_count
        assert attributes["VisibilityTimeout"] == "1"  # the local override of this stack


def test_seeded_secret_is_resolved_through_secrets_manager(stack):
    client = stack.aws.client("secretsmanager")

    assert client.get_secret_value(SecretId="ame/webhooks/SEEDED")["SecretString"] == "whsec_c2VlZGVk"


def test_unknown_secret_ref_gets_a_generated_webhook_secret(stack):
    client = stack.aws.client("secretsmanager")
    ref = f"ame/webhooks/NEW_{uuid.uuid4().hex[:6]}"

    first = client.get_secret_value(SecretId=ref)["SecretString"]
    second = client.get_secret_value(SecretId=ref)["SecretString"]

    assert first == second == stack.secrets.get(ref)
    assert stack.secrets.was_generated(ref)


def test_generated_secret_is_whsec_and_24_random_bytes():
    import base64

    secret = generate_webhook_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :])) == 24
    assert generate_webhook_secret() != secret


def test_secret_refs_are_found_in_seed_json_files(tmp_path: Path):
    (tmp_path / "areas").mkdir()
    (tmp_path / "areas" / "a.json").write_text(
        json.dumps([{"area_code": "X", "webhook": {"url": "http://h", "secret_ref": "ame/webhooks/X"}}])
    )
    (tmp_path / "b.json").write_text(json.dumps({"webhook": None}))

    assert secret_refs_in(tmp_path) == {"ame/webhooks/X"}


def test_store_keeps_seeded_values_and_generates_the_rest_once():
    store = LocalSecretsStore({"ame/webhooks/A": "whsec_QQ=="}, generate=iter(["whsec_one", "whsec_two"]).__next__)

    store.ensure(["ame/webhooks/A", "ame/webhooks/B", "ame/webhooks/B"])

    assert store.get("ame/webhooks/A") == "whsec_QQ=="
    assert store.get("ame/webhooks/B") == "whsec_one"
    assert not store.was_generated("ame/webhooks/A")


def test_lambda_names_and_arns_map_to_chalice_function_names():
    assert chalice_function_name(function_arn("load_order")) == "load_order"
    assert chalice_function_name(function_arn("load_order") + ":$LATEST") == "load_order"
    assert chalice_function_name("ame-local-load_order") == "load_order"


def test_config_reads_the_environment_of_contracts_section_4():
    config = LocalConfig.from_env(
        {
            "AME_PORT": "8001",
            "AME_PARTNERS_PORT": "8101",
            "AME_LOCAL_SECRETS": '{"ame/webhooks/CREDITO_PJ": "whsec_x"}',
            **{name: "http://partner" for name in PARTNER_URL_VARIABLES},
        }
    )

    assert (config.port, config.partners_port) == (8001, 8101)
    assert config.secrets == {"ame/webhooks/CREDITO_PJ": "whsec_x"}
    assert not config.simulator_needed
    assert config.database_url == f"sqlite:///{REPO_ROOT / '.local' / 'ame.sqlite3'}"
    assert LocalConfig.from_env({"AME_PARAMETRIZADOR_URL": "http://p"}).simulator_needed


def test_the_partner_probe_runs_faster_than_the_schedules_unless_they_are_slowed_down():
    assert LocalConfig.from_env({}).effective_probe_interval_seconds == 2.0  # schedules every 10 s
    probe = LocalConfig.from_env(
        {"AME_LOCAL_SCHEDULE_SECONDS": "1", "AME_LOCAL_PROBE_SECONDS": "0.5", "AME_LOCAL_WEBHOOK_DELAY_MS": "100"}
    )
    assert (probe.effective_probe_interval_seconds, probe.webhook_delay_seconds) == (0.5, 0.1)
    assert LocalConfig.from_env({"AME_LOCAL_SCHEDULE_SECONDS": "3600"}).effective_probe_interval_seconds == 720


UNKNOWN_FUNCTION_WORKFLOW = """
{
  "StartAt": "CallNobody",
  "States": {
    "CallNobody": {"Type": "Task", "Resource": "${NobodyArn}", "End": true}
  }
}
"""


def test_a_task_naming_an_unknown_function_fails_the_execution_as_lambda_would(stack):
    definition = json.dumps(
        render_definition(load_definition(UNKNOWN_FUNCTION_WORKFLOW), {"NobodyArn": function_arn("nobody_here")})
    )
    arn = stack.sfn.create_state_machine(
        name=f"unknown-{uuid.uuid4().hex[:6]}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]

    execution = run_execution(stack.sfn, arn, f"ORD-{uuid.uuid4().hex[:10]}")

    assert execution["status"] == "FAILED"
    assert "ResourceNotFound" in (execution.get("error", "") + execution.get("cause", ""))


def test_loopback_calls_skip_the_aws_url_matching_but_a_tests_own_stubs_still_answer(stack):
    import responses

    # Nothing listens on port 9: without a stub the call really goes out (passes through) and fails.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://127.0.0.1:9/anything", timeout=2)
    with responses.RequestsMock() as stubs:
        stubs.add(responses.GET, "http://127.0.0.1:9/anything", json={"stubbed": True})
        assert requests.get("http://127.0.0.1:9/anything", timeout=2).json() == {"stubbed": True}


NESTED_WORKFLOW = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Next": "Both",
            "Iterator": {
                "StartAt": "Inner",
                "States": {
                    "Inner": {
                        "Type": "Task",
                        "Resource": "${InnerArn}",
                        "End": True,
                        "Retry": [
                            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0}
                        ],
                    }
                },
            },
        },
        "Both": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {
                    "StartAt": "Left",
                    "States": {
                        "Left": {
                            "Type": "Task",
                            "Resource": "arn:${Partition}:lambda:x",
                            "End": True,
                            "Retry": [
                                {"ErrorEquals": ["A"], "IntervalSeconds": 5},
                                {"ErrorEquals": ["B"], "MaxAttempts": 9},
                            ],
                        }
                    },
                }
            ],
        },
    },
}


def test_render_definition_fills_placeholders_and_sets_every_retry_rule_nested_ones_included():
    rendered = render_definition(
        NESTED_WORKFLOW,
        {"InnerArn": "arn:inner", "Partition": "aws", "Unused": "x"},
        retry={"RetryIntervalSeconds": "1", "RetryMaxAttempts": 2, "RetryBackoffRate": "1.5"},
    )

    rules = list(retry_rules(rendered))
    assert len(rules) == 3
    assert all((r["IntervalSeconds"], r["MaxAttempts"], r["BackoffRate"]) == (1, 2, 1.5) for r in rules)
    assert all(type(r["IntervalSeconds"]) is int and type(r["BackoffRate"]) is float for r in rules)
    assert rendered["States"]["Each"]["Iterator"]["States"]["Inner"]["Resource"] == "arn:inner"
    assert rendered["States"]["Both"]["Branches"][0]["States"]["Left"]["Resource"] == "arn:aws:lambda:x"
    # The parsed document it was given is untouched.
    assert NESTED_WORKFLOW["States"]["Each"]["Iterator"]["States"]["Inner"]["Resource"] == "${InnerArn}"
    assert next(retry_rules(NESTED_WORKFLOW))["IntervalSeconds"] == 5


def test_render_definition_names_what_is_missing_or_unknown():
    with pytest.raises(UnfilledPlaceholders, match=r"\$\{InnerArn\}, \$\{Partition\}"):
        render_definition(NESTED_WORKFLOW, {})
    with pytest.raises(ValueError, match="RetryJitter"):
        render_definition(NESTED_WORKFLOW, {"InnerArn": "a", "Partition": "aws"}, retry={"RetryJitter": "FULL"})
    with pytest.raises(json.JSONDecodeError):
        load_definition('{"States": {"A": {"IntervalSeconds": ${RetryIntervalSeconds}}}}')


def _pinned(requirement: str) -> str:
    text = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    return next(
        line.split("==")[1].strip()
        for line in text.splitlines()
        if line.split("[")[0].split("==")[0].strip() == requirement
    )


def test_the_speed_patches_were_verified_with_the_pinned_moto_and_responses():
    # Bumping a pin fails here until someone checks ame_local/speedups.py against the new version.
    assert _pinned("moto") == speedups.VERIFIED_MOTO_VERSION
    assert _pinned("responses") == speedups.VERIFIED_RESPONSES_VERSION
    assert speedups.check_versions() is True


def test_another_moto_version_is_reported_as_a_warning(caplog):
    with caplog.at_level("WARNING", logger="ame_local.speedups"):
        assert speedups.check_versions({"moto": "9.9.9", "responses": speedups.VERIFIED_RESPONSES_VERSION}) is False
    (record,) = caplog.records
    assert "moto 9.9.9 is installed" in record.getMessage()
    assert f"verified with moto {speedups.VERIFIED_MOTO_VERSION}" in record.getMessage()


def test_speedups_are_opt_in_and_uninstalling_restores_what_they_found(stack):
    import moto.core.responses as moto_responses
    import moto.stepfunctions.parser.asl.eval.states as moto_states
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from ame_local.aws import LocalAws

    assert LocalAws(Chalice(app_name="plain")).speedups is None  # without speedups=True, moto as shipped
    assert [type(p).__name__ for p in stack.aws.speedups.installed] == [
        "ParseCache",
        "DirectLambdaRoute",
        "JsonPathCache",
        "LoopbackPassthrough",
        "SqsScans",
        "ActionNames",
        "JsonCopies",
        "InlineTasks",
    ]
    before = AmazonStateLanguageParser.__dict__["parse"]
    names_before = moto_responses.method_names_from_class
    copy_before = moto_states.copy
    extra = speedups.MotoSpeedups(stack.aws.dispatcher)
    extra.install()
    try:
        assert AmazonStateLanguageParser.__dict__["parse"] is not before
    finally:
        extra.uninstall()
    assert AmazonStateLanguageParser.__dict__["parse"] is before and extra.installed == []
    assert moto_responses.method_names_from_class is names_before
    assert moto_states.copy is copy_before  # the interpreter's modules get back what they had


def test_a_speed_patch_whose_target_moved_is_skipped_with_a_warning(stack, monkeypatch, caplog):
    extra = speedups.MotoSpeedups(stack.aws.dispatcher)

    def moved() -> None:
        raise AttributeError("module has no attribute 'boto_client_for'")

    monkeypatch.setattr(extra.lambda_route, "install", moved)
    with caplog.at_level("WARNING", logger="ame_local.speedups"):
        extra.install()
    try:
        assert extra.lambda_route not in extra.installed and len(extra.installed) == 7
        assert any("DirectLambdaRoute not installed" in r.getMessage() for r in caplog.records)
    finally:
        extra.uninstall()


def test_the_interpreters_deep_copies_of_json_are_equal_and_share_nothing():
    from moto.stepfunctions.parser.asl.eval import states

    before = states.copy
    patch = speedups.JsonCopies()
    patch.install()
    try:
        data = {"order_key": "k", "parties": [{"position": 0, "amount": 1.5, "ok": True, "note": None}]}
        copied = states.copy.deepcopy(data)
        assert copied == data and copied is not data
        assert copied["parties"] is not data["parties"] and copied["parties"][0] is not data["parties"][0]
        copied["parties"][0]["ok"] = False
        assert data["parties"][0]["ok"] is True

        # Not JSON (a tuple, a shared object): copy.deepcopy as before, memo and all.
        shared = ["x"]
        other = states.copy.deepcopy({"a": shared, "b": shared, "c": (1, 2)})
        assert other["a"] is other["b"] and other["a"] is not shared and other["c"] == (1, 2)
        assert states.copy.copy is __import__("copy").copy  # the module's other names are the real ones
    finally:
        patch.uninstall()
    assert states.copy is before


def _sqs_scenario() -> tuple[list[str], list[str], tuple[str, str, str]]:
    """An expired message, a fresh one and a delayed one: what two receives get, and the counts."""
    import boto3
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs", region_name="us-east-1")
    name = f"retention-{uuid.uuid4().hex[:8]}"  # moto's state outlives a nested mock_aws: a queue of its own
    url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    account = url.rstrip("/").split("/")[-2]
    queue = sqs_backends[account]["us-east-1"].queues[name]
    queue._messages[0].sent_timestamp -= 120_000  # sent two minutes ago: past the 60 s retention
    first = [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])]
    sqs.send_message(QueueUrl=url, MessageBody="fresh")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    second = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    counts = (
        a["ApproximateNumberOfMessages"],
        a["ApproximateNumberOfMessagesDelayed"],
        a["ApproximateNumberOfMessagesNotVisible"],
    )
    return first, second, counts


def test_the_sqs_scans_patch_keeps_what_is_visible_delayed_and_retained():
    from moto import mock_aws

    with mock_aws():
        as_shipped = _sqs_scenario()
    patch = speedups.SqsScans()
    patch.install()
    try:
        with mock_aws():
            patched = _sqs_scenario()
    finally:
        patch.uninstall()

    assert patched == as_shipped == ([], ["fresh"], ("0", "1", "2"))  # "old": received once, never handed over
