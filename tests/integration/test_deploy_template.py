"""The deploy, rehearsed offline: `chalice package` with the generated merge template, linted and wired right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.asl import load_definition, logical_id, placeholders, render_asl, render_definition, retry_rules
from chalicelib.domain.throttling import CallerLimits
from chalicelib.entrypoints.problems import problem_document
from chalicelib.queues import QUEUES
from chalicelib.settings import Settings
from infra import deploy
from infra.build_template import (
    ASL_FILE,
    FUNCTION_ACCESS,
    RETRY_PARAMETERS,
    STATE_MACHINE,
    TemplateError,
    app_functions,
    build_template,
    dlq_logical_id,
    load_app,
)
from infra.template.common import BUCKET_NAME

ROOT = Path(__file__).resolve().parents[2]
# The only statements allowed on Resource "*": AWS grants these actions on nothing narrower.
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("deploy")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "sa-east-1")}
    info = deploy.package("dev", out, environ=env)
    info["sam"] = json.loads(Path(info["template"]).read_text(encoding="utf-8"))
    info["out"] = out
    yield info


@pytest.fixture(scope="module")
def resources(packaged: dict[str, Any]) -> dict[str, Any]:
    return packaged["sam"]["Resources"]


def _functions(resources: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_packaged_template_has_no_cfn_lint_errors_and_the_asl_passes_statelint(packaged):
    errors = deploy.validate(Path(packaged["template"]), packaged["out"] / "rendered.asl.json")
    assert errors == []


def test_every_queue_has_a_dead_letter_queue_with_a_redrive_policy_and_an_alarm(resources):
    for spec in QUEUES.values():
        queue, dlq = resources[spec.logical_id], resources[dlq_logical_id(spec)]
        assert queue["Properties"]["QueueName"] == spec.name
        assert dlq["Properties"]["QueueName"] == spec.dlq_name
        assert queue["Properties"]["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_logical_id(spec), "Arn"]},
            "maxReceiveCount": spec.max_receive_count,
        }
        alarm = resources[dlq_logical_id(spec) + "Alarm"]["Properties"]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 0
        assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_logical_id(spec), "QueueName"]}


def test_every_sqs_event_source_points_at_its_queue_and_reports_partial_failures(resources):
    queue_ids = {r["Properties"]["QueueName"]: lid for lid, r in _of_type(resources, "AWS::SQS::Queue").items()}
    sources = 0
    for lid, fn in _functions(resources).items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            sources += 1
            queue_name = event["Properties"]["Queue"]["Fn::Sub"].rsplit(":", 1)[1]
            assert queue_name in queue_ids, f"{lid} reads {queue_name}, which the template does not declare"
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert queue_ids[queue_name] in fn["DependsOn"]
            visibility = resources[queue_ids[queue_name]]["Properties"]["VisibilityTimeout"]
            assert visibility >= 6 * fn["Properties"]["Timeout"]
    consumers_in_app = {f.key for f in app_functions(load_app()) if f.kind == "sqs"}
    assert sources == len(consumers_in_app) >= 1


def test_every_asl_placeholder_resolves_to_a_packaged_function_or_a_parameter(packaged, resources):
    machine = resources[STATE_MACHINE]["Properties"]
    substitutions = machine["DefinitionSubstitutions"]
    shipped = (Path(packaged["template"]).parent / machine["DefinitionUri"]).read_text(encoding="utf-8")
    assert shipped == deploy.packaged_definition()
    assert set(substitutions) == placeholders(shipped)
    assert set(RETRY_PARAMETERS) <= set(substitutions)
    functions = _functions(resources)
    for name, value in substitutions.items():
        if name in RETRY_PARAMETERS:
            assert value == {"Ref": name} and name in packaged["sam"]["Parameters"]
        else:
            target, attribute = value["Fn::GetAtt"]
            assert target in functions and attribute == "Arn"


def test_the_packaged_asl_is_the_committed_one_with_retry_numbers_from_the_parameters():
    committed = load_definition((ROOT / ASL_FILE).read_text(encoding="utf-8"))
    shipped = deploy.packaged_definition()
    with pytest.raises(json.JSONDecodeError):
        json.loads(shipped)  # unquoted ${Retry...} until CloudFormation substitutes numbers
    values = {"RetryIntervalSeconds": "3", "RetryMaxAttempts": "5", "RetryBackoffRate": "1.5"}
    arns = {n: f"arn:aws:lambda:sa-east-1:1:function:{n}" for n in placeholders(shipped) if n.endswith("Arn")}
    deployed = json.loads(render_asl(shipped, {**values, **arns}))  # what DefinitionSubstitutions does
    assert deployed == render_definition(committed, arns, retry=values)
    rules = list(retry_rules(deployed))
    assert len(rules) >= 10 and all(
        (r["IntervalSeconds"], r["MaxAttempts"], r["BackoffRate"]) == (3, 5, 1.5) for r in rules
    )
    # The committed literals are the parameters' defaults: what a stack with default parameters runs.
    defaults = {
        name: spec["Default"] for name, spec in build_template()["Parameters"].items() if name in RETRY_PARAMETERS
    }
    assert all(
        (r["IntervalSeconds"], r["MaxAttempts"], r["BackoffRate"])
        == (defaults["RetryIntervalSeconds"], defaults["RetryMaxAttempts"], defaults["RetryBackoffRate"])
        for r in retry_rules(committed)
    )


def test_every_task_function_of_the_app_is_used_by_the_state_machine(resources):
    used = {
        v["Fn::GetAtt"][0]
        for v in resources[STATE_MACHINE]["Properties"]["DefinitionSubstitutions"].values()
        if "Fn::GetAtt" in v
    }
    tasks = {f.logical_id for f in app_functions(load_app()) if f.kind == "lambda"}
    assert tasks - used == set(), "lambda_functions no Task state invokes"


def test_state_machine_type_is_a_parameter_defaulting_to_standard_and_is_traced(packaged, resources):
    parameter = packaged["sam"]["Parameters"]["StateMachineType"]
    assert parameter["Default"] == "STANDARD" and set(parameter["AllowedValues"]) == {"STANDARD", "EXPRESS"}
    machine = resources[STATE_MACHINE]["Properties"]
    assert machine["Type"] == {"Ref": "StateMachineType"}
    assert machine["Tracing"] == {"Enabled": True}


def test_every_function_is_traced_in_the_vpc_with_its_own_role_log_group_and_all_settings(resources):
    required = {f.alias for f in Settings.model_fields.values() if f.is_required()}
    for lid, fn in _functions(resources).items():
        props = fn["Properties"]
        assert props["Tracing"] == "Active"
        assert props["Role"] == {"Fn::GetAtt": [f"{lid}Role", "Arn"]}
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": f"{lid}LogGroup"}
        assert resources[f"{lid}LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert props["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "LambdaSecurityGroup"}]
        variables = props["Environment"]["Variables"]
        assert required - set(variables) == set(), f"{lid} misses settings"
        assert "${DatabaseProxy.Endpoint}" in variables["AME_DATABASE_URL"]["Fn::Sub"]
        assert "${Cache.PrimaryEndPoint.Address}" in variables["AME_REDIS_URL"]["Fn::Sub"]


def test_no_iam_statement_grants_star_where_an_arn_is_known(resources):
    statements: list[dict[str, Any]] = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            statements += [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            statements += props["PolicyDocument"]["Statement"]
    assert statements
    for statement in statements:
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in targets or any(isinstance(t, str) and t.endswith(":*:*:*") for t in targets):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= STAR_ONLY_ACTIONS, statement
    assert resources["DefaultRole"]["Properties"]["Policies"] == []


def test_consumer_may_start_the_workflow_and_read_only_its_queue(resources):
    role = resources["OnCreationMessageRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in role}
    assert by_sid["StartWorkflow"]["Action"] == ["states:StartExecution"]
    consumed = [r["Fn::Sub"].rsplit(":", 1)[1] for r in by_sid["ConsumeQueues"]["Resource"]]
    assert consumed == [QUEUES["creation"].name]


def test_bucket_database_proxy_cache_and_secret_are_declared_as_the_design_asks(resources):
    bucket = resources["DocumentBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["LifecycleConfiguration"]["Rules"]
    cluster = resources["DatabaseCluster"]["Properties"]
    assert cluster["Engine"] == "aurora-mysql" and cluster["StorageEncrypted"] is True
    assert cluster["BackupRetentionPeriod"] == {"Ref": "BackupRetentionDays"}
    assert resources["DatabaseProxyTargetGroup"]["Properties"]["DBClusterIdentifiers"] == [{"Ref": "DatabaseCluster"}]
    assert resources["DatabaseProxy"]["Properties"]["RequireTLS"] is True
    assert resources["Cache"]["Properties"]["TransitEncryptionEnabled"] is True
    assert resources["DatabaseSecret"]["Properties"]["ReplicaRegions"]["Fn::If"][0] == "HasSecondaryRegion"


def test_alarms_cover_workflow_failures_api_errors_latency_and_every_partner_breaker(resources):
    from chalicelib import observability as obs

    alarms = _of_type(resources, "AWS::CloudWatch::Alarm")
    metrics = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in alarms.values()
        if "Namespace" in a["Properties"]
    } | {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for a in alarms.values()
        for q in a["Properties"].get("Metrics", [])
        if "MetricStat" in q
    }
    assert {
        ("AME", obs.METRIC_PARKED_ORDERS),
        ("AME", obs.METRIC_OLDEST_PARKED_AGE),
        ("AME", obs.METRIC_PARTNER_ERRORS),
        ("AME", obs.METRIC_PARTNER_LATENCY),
        ("AWS/States", "ExecutionsStarted"),
        ("AME", obs.METRIC_WORKFLOW_FAILURES),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
    } <= metrics
    breaker_partners = {
        d["Value"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == obs.METRIC_BREAKER_OPEN
        for d in a["Properties"]["Dimensions"]
        if d["Name"] == "partner"
    }
    assert breaker_partners == set(obs.PARTNERS)
    assert _of_type(resources, "AWS::CloudWatch::Dashboard")


def _alarms(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        **_of_type(resources, "AWS::CloudWatch::Alarm"),
        **_of_type(resources, "AWS::CloudWatch::CompositeAlarm"),
    }


def test_every_alarm_routes_to_exactly_one_severity_topic(resources):
    from infra.template.common import SEVERITY_TOPICS

    topics = set(SEVERITY_TOPICS.values())
    assert {lid for lid, r in _of_type(resources, "AWS::SNS::Topic").items()} >= topics
    by_topic: dict[str, list[str]] = {t: [] for t in topics}
    alarms = _alarms(resources)
    assert len(alarms) >= 40
    for lid, alarm in alarms.items():
        props = alarm["Properties"]
        assert "Condition" not in alarm, f"{lid} must always exist"
        actions = props.get("AlarmActions")
        assert isinstance(actions, list) and len(actions) == 1, f"{lid}: {actions}"
        assert actions == props.get("OKActions"), f"{lid}: OK goes where ALARM goes"
        (target,) = actions
        assert set(target) == {"Ref"} and target["Ref"] in topics, f"{lid} routes to {target}"
        by_topic[target["Ref"]].append(lid)
        assert not props.get("InsufficientDataActions")
    assert all(by_topic.values()), by_topic  # every severity is used


def test_alert_subscriptions_and_slack_exist_only_when_their_parameters_are_set(packaged, resources):
    from infra.template.common import SEVERITY_TOPICS

    parameters = packaged["sam"]["Parameters"]
    conditions = packaged["sam"]["Conditions"]
    for topic in SEVERITY_TOPICS.values():
        for suffix, protocol in (("Email", "email"), ("Sms", "sms")):
            sub = resources[f"{topic}{suffix}Subscription"]
            assert sub["Properties"]["Protocol"] == protocol
            assert sub["Properties"]["TopicArn"] == {"Ref": topic}
            parameter = sub["Properties"]["Endpoint"]["Ref"]
            assert parameters[parameter]["Default"] == ""
            assert conditions[sub["Condition"]] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        slack = resources[f"{topic}SlackChannel"]
        assert slack["Type"] == "AWS::Chatbot::SlackChannelConfiguration"
        assert slack["Properties"]["SnsTopicArns"] == [{"Ref": topic}]
        assert {"Condition": "HasSlack"} in conditions[slack["Condition"]]["Fn::And"]
        assert "alerts" in json.dumps(resources[topic]["Properties"]["TopicName"])
    assert resources["AlertsChatbotRole"]["Condition"] == "HasSlack"
    assert "AlarmTopicArn" not in parameters


def test_each_partner_has_an_anomaly_alarm_an_alternative_route_rule_and_a_composite_that_pages(resources):
    from chalicelib import observability as obs

    alarms = _alarms(resources)
    for partner in obs.PARTNERS:
        pid = partner.capitalize()
        anomaly = alarms[f"{pid}LatencyAnomalyAlarm"]["Properties"]
        assert anomaly["ThresholdMetricId"] == "band"
        assert "ANOMALY_DETECTION_BAND(latency" in json.dumps(anomaly["Metrics"])
        assert anomaly["AlarmActions"] == [{"Ref": "AlertsWarning"}]
        route = alarms[f"{pid}AlternativeRouteAlarm"]["Properties"]
        assert "AlternativeRouteP95Ms" in json.dumps(route["Metrics"])
        down = alarms[f"{pid}DownAlarm"]
        assert down["Type"] == "AWS::CloudWatch::CompositeAlarm"
        assert down["Properties"]["AlarmActions"] == [{"Ref": "AlertsCritical"}]
        rule = down["Properties"]["AlarmRule"]["Fn::Sub"]
        members = [m.split("}")[0] for m in rule.split("${")[1:]]
        assert members == [f"{pid}BreakerOpenLongAlarm", f"{pid}ErrorRateAlarm", "ParkedBacklogGrowingAlarm"]
        for member in members:  # the composite pages; its members only inform or warn
            assert alarms[member]["Properties"]["AlarmActions"] != [{"Ref": "AlertsCritical"}]


def test_every_alarm_is_in_the_runbook_table_with_its_severity(resources):
    import re

    from chalicelib import observability as obs
    from infra.template.common import SEVERITY_NAMES, SEVERITY_TOPICS

    names = {topic: SEVERITY_NAMES[severity] for severity, topic in SEVERITY_TOPICS.items()}
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+?) \|", runbook, re.M)}
    partners = "|".join(p.capitalize() for p in obs.PARTNERS)
    queues = "|".join(dlq_logical_id(s).removesuffix("DeadLetterQueue") for s in QUEUES.values())
    for lid, alarm in _alarms(resources).items():
        family = re.sub(f"^({partners})", "<Partner>", lid)
        family = re.sub(f"^({queues})DeadLetterQueue", "<Queue>DeadLetterQueue", family)
        assert family in rows, f"{family} is missing from docs/runbook.md's alarm table"
        assert rows[family] == names[alarm["Properties"]["AlarmActions"][0]["Ref"]], family


def test_trimmed_package_still_imports_the_app_and_what_its_functions_load(packaged, tmp_path):
    with zipfile.ZipFile(packaged["zip"]) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    assert not any(n.startswith("botocore/") for n in names)
    # Local-only tooling never ships: the Prometheus client of the local /metrics and the local stack.
    assert not any(n.startswith(("prometheus_client/", "ame_local/")) for n in names)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import app, sqlalchemy as sa, pymysql, redis, requests, jwt;"
        "from stdnum.br import cpf, cnpj; assert cpf.is_valid('52998224725') and cnpj.is_valid('12ABC34501DE35');"
        "sa.create_engine('mysql+pymysql://u:p@h/d'); sa.create_engine('sqlite://');"
        "from aws_lambda_powertools import Logger, Metrics, Tracer;"
        "from aws_lambda_powertools.utilities.batch import BatchProcessor; import aws_xray_sdk.core;"
        "print(sys.modules['sqlalchemy'].__file__.startswith(sys.argv[1]))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"


def test_a_function_missing_from_the_access_table_fails_the_build_with_a_clear_message():
    app = load_app()
    key = "load_order"
    saved = FUNCTION_ACCESS.pop(key)
    try:
        with pytest.raises(TemplateError, match="load_order has no row in FUNCTION_ACCESS"):
            build_template(app)
    finally:
        FUNCTION_ACCESS[key] = saved


def test_deploy_without_stage_region_or_credentials_says_what_is_missing_before_packaging(
    tmp_path, capsys, monkeypatch
):
    for name in (
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "STAGE",
        "ARTIFACT_BUCKET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    out = tmp_path / "build"
    assert deploy.main(["deploy", "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "no stage" in message and "AWS_DEFAULT_REGION" in message and "no AWS credentials" in message
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    assert deploy.main(["deploy", "--stage", "dev", "--out", str(out), "--artifact-bucket", "b"]) == 2
    message = capsys.readouterr().err
    assert "no AWS credentials" in message and "no stage" not in message
    assert not out.exists()


def test_upload_plan_points_code_and_definition_at_s3(packaged):
    template = deploy.for_upload(packaged["sam"], "s3://b/ame/dev/x.zip", {"Bucket": "b", "Key": "ame/dev/y.json"})
    assert {f["Properties"]["CodeUri"] for f in _functions(template["Resources"]).values()} == {"s3://b/ame/dev/x.zip"}
    assert template["Resources"][STATE_MACHINE]["Properties"]["DefinitionUri"] == {
        "Bucket": "b",
        "Key": "ame/dev/y.json",
    }


def test_gateway_errors_are_problem_documents(resources):
    from chalicelib.entrypoints.problems import (
        missing_token_document,
        route_not_found_document,
        stage_throttled_document,
    )

    for name, kind, status, document in (
        ("UnauthorizedProblem", "UNAUTHORIZED", "401", missing_token_document()),
        ("MissingTokenProblem", "MISSING_AUTHENTICATION_TOKEN", "404", route_not_found_document()),
        ("ThrottledProblem", "THROTTLED", "429", stage_throttled_document()),
    ):
        response = resources[name]["Properties"]
        assert (response["ResponseType"], response["StatusCode"]) == (kind, status)
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        assert response["ResponseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId"
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body["status"] == int(status)
        # The same document the API's own errors carry, and the local server's (one builder for all).
        assert body == document
        assert {k: v for k, v in body.items() if k != "errors"} == problem_document(
            int(status), body["code"], body["detail"]
        )
        assert body["title"] and body["type"].startswith("https://")
    throttled = resources["ThrottledProblem"]["Properties"]
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert json.loads(throttled["ResponseTemplates"]["application/json"])["code"] == "RATE_LIMITED"


# -- throttling (docs/security.md) ----------------------------------------------------------------------


def test_the_stage_throttles_every_method_and_the_write_routes_tighter(packaged, resources):
    settings = resources["RestAPI"]["Properties"]["MethodSettings"]
    by_route = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings}
    assert by_route[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "StageRateLimit"}
    assert by_route[("/*", "*")]["ThrottlingBurstLimit"] == {"Ref": "StageBurstLimit"}
    for path in ("/~1v1~1orders", "/~1v1~1quorum~1simulations"):
        assert by_route[(path, "POST")]["ThrottlingRateLimit"] == {"Ref": "WriteRateLimit"}
        assert by_route[(path, "POST")]["ThrottlingBurstLimit"] == {"Ref": "WriteBurstLimit"}
    # Every throttled path is a route of the app (a typo would throttle nothing).
    import app as app_module

    for path, method in by_route:
        if path != "/*":
            assert method in app_module.app.routes[path.replace("~1", "/")[1:]]
    parameters = packaged["sam"]["Parameters"]
    assert parameters["WriteRateLimit"]["Default"] <= parameters["StageRateLimit"]["Default"]


def test_no_usage_plan_without_api_keys(resources):
    """A usage plan throttles only requests that carry one of its API keys: without keys it does nothing."""
    plans = _of_type(resources, "AWS::ApiGateway::UsagePlan")
    keys = _of_type(resources, "AWS::ApiGateway::UsagePlanKey")
    assert not plans or keys, "a usage plan with no UsagePlanKey throttles nothing"
    assert plans == {}  # the per-caller limit is AME's token bucket per client_id instead


def test_partner_calling_tasks_have_reserved_concurrency_and_delivery_a_maximum(resources):
    from infra.template.inventory import PARTNER_TASKS

    functions = _functions(resources)
    reserved = {
        lid for lid, fn in functions.items() if fn["Properties"].get("ReservedConcurrentExecutions") is not None
    }
    assert reserved == {logical_id(name) for name in PARTNER_TASKS}
    for lid in reserved:
        assert functions[lid]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "PartnerTaskConcurrency"}
    source = functions["OnResultMessage"]["Properties"]["Events"]["OnResultMessageSqsEventSource"]["Properties"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "DeliveryMaxConcurrency"}}


def test_throttling_settings_reach_every_function_and_their_defaults_are_valid(packaged, resources):
    parameters = packaged["sam"]["Parameters"]
    limits = CallerLimits.model_validate(parameters["CallerLimits"]["Default"])
    assert limits.default.rate_per_second > 0
    for fn in _functions(resources).values():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["AME_CALLER_LIMITS"] == {"Ref": "CallerLimits"}
        assert variables["AME_NOTIFICATION_CAP"] == {"Ref": "NotificationCap"}
        assert variables["AME_NOTIFICATION_CAP_WINDOW_SECONDS"] == {"Ref": "NotificationCapWindowSeconds"}


def test_every_path_answers_the_methods_it_lacks_with_a_405_problem_and_allow(resources):
    from chalicelib.entrypoints.problems import method_not_allowed_document

    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    routes = load_app().routes
    assert set(paths) == set(routes)
    for path, methods in paths.items():
        declared = sorted(m.upper() for m in methods if not m.startswith("x-"))
        assert declared and set(declared) >= {m.upper() for m in routes[path]}, path
        fallback = methods["x-amazon-apigateway-any-method"]
        assert "security" not in fallback  # answered before any authorizer, like an unknown path
        integration = fallback["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        answer = integration["responses"]["default"]
        assert answer["statusCode"] == "405"
        assert answer["responseParameters"]["method.response.header.Allow"] == "'" + ", ".join(declared) + "'"
        assert json.loads(answer["responseTemplates"]["application/json"]) == method_not_allowed_document()


def _texts(value: Any) -> Iterator[str]:
    """Every string inside a CloudFormation value (intrinsics included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


SECRET_NAME_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL")
NOT_SECRETS = {"AME_TOKEN_ISSUER", "AME_TOKEN_AUDIENCE", "AME_TOKEN_ISSUERS"}  # who issues tokens and for whom: public


def test_no_function_environment_holds_a_secret_value(resources):
    """The environment is readable with lambda:GetFunctionConfiguration: it names secrets, never holds them."""
    for lid, fn in _functions(resources).items():
        variables = fn["Properties"]["Environment"]["Variables"]
        for name, value in variables.items():
            texts = list(_texts(value))
            assert not any("{{resolve:" in t for t in texts), f"{lid} {name} resolves a secret into the environment"
            if any(word in name for word in SECRET_NAME_WORDS) and name not in NOT_SECRETS:
                assert name.endswith(("_SECRET_ARN", "_SECRET_NAME", "_SECRET_REF")), (
                    f"{lid} {name} looks like a secret value"
                )
        assert "@" not in "".join(_texts(variables["AME_DATABASE_URL"])), f"{lid}: credentials in the database URL"
        assert "AME_CURSOR_SECRET" not in variables and "AME_ALLOW_PLAIN_SECRETS" not in variables
        assert "AME_WEBHOOK_ALLOW_LOCAL" not in variables
        assert variables["AME_DATABASE_SECRET_ARN"] == {
            "Fn::If": ["IsPrimary", {"Ref": "DatabaseSecret"}, {"Ref": "ReplicaDatabaseSecretArn"}]
        }
        assert variables["AME_CURSOR_SECRET_NAME"]["Fn::If"][1] == {"Ref": "CursorSecret"}


def test_every_function_may_read_the_runtime_secrets_it_is_given(resources):
    for lid in _functions(resources):
        statements = resources[f"{lid}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [read] = [s for s in statements if s.get("Sid") == "ReadRuntimeSecrets"]
        assert read["Action"] == ["secretsmanager:GetSecretValue"]
        assert {"Ref": "DatabaseSecret"} in list(_dicts(read["Resource"]))
        assert {"Ref": "CursorSecret"} in list(_dicts(read["Resource"]))


def _dicts(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


# -- analytics (docs/analytics.md) ----------------------------------------------------------------------


def test_only_the_export_function_gets_the_pandas_layer_and_at_least_1024_mb(resources):
    functions = _functions(resources)
    with_layers = {k for k, v in functions.items() if v["Properties"].get("Layers")}
    export = functions["ExportAnalytics"]["Properties"]

    assert with_layers == {"ExportAnalytics"}
    layer = json.dumps(export["Layers"])
    assert ":336392948345:layer:AWSSDKPandas-Python311:" in layer and "${AWS::Region}" in layer
    assert export["MemorySize"] >= 1024
    assert export["Environment"]["Variables"]["AME_ANALYTICS_HMAC_SECRET_REF"] == {"Ref": "AnalyticsHmacSecret"}


def test_athena_results_expire_and_the_bucket_keeps_its_other_rules(resources, packaged):
    from infra.analytics_template import RESULTS_PREFIX

    rules = {r["Id"]: r for r in resources["DocumentBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    athena = rules["expire-athena-results"]
    assert athena["Status"] == "Enabled" and athena["Prefix"] == f"{RESULTS_PREFIX}/"
    assert athena["ExpirationInDays"] == {"Ref": "AthenaResultsExpirationDays"}
    assert athena["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}  # the bucket is versioned
    parameter = packaged["sam"]["Parameters"]["AthenaResultsExpirationDays"]
    assert parameter["Default"] == 7 and parameter["MinValue"] == 1
    assert {"expire-claim-checks", "expire-old-versions"} <= set(rules)  # the bucket's own rules stay
    # The workgroup writes exactly where the rule expires.
    (workgroup,) = _of_type(resources, "AWS::Athena::WorkGroup").values()
    location = workgroup["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    assert location.endswith(f"/{RESULTS_PREFIX}/")


def test_glue_tables_use_partition_projection_and_athena_has_a_v3_encrypted_capped_workgroup(resources):
    from ame_ops.analytics import query_names
    from chalicelib.domain.analytics import DIMENSIONS, FACTS

    tables = {
        v["Properties"]["TableInput"]["Name"]: v["Properties"]["TableInput"]
        for v in _of_type(resources, "AWS::Glue::Table").values()
    }
    assert set(tables) == set(FACTS) | set(DIMENSIONS)
    for name in FACTS:
        params = tables[name]["Parameters"]
        assert params["projection.enabled"] == "true" and params["projection.dt.type"] == "date"
        assert "storage.location.template" in params
    (workgroup,) = _of_type(resources, "AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    queries = {v["Properties"]["Name"] for v in _of_type(resources, "AWS::Athena::NamedQuery").values()}
    assert queries == set(query_names())
    assert (
        _of_type(resources, "AWS::QuickSight::DataSource")["AnalyticsQuickSightDataSource"]["Condition"]
        == "HasQuickSight"
    )


def test_the_purge_function_runs_daily_for_up_to_900_s_with_the_archive_prefix_only(resources):
    purge = resources["PurgeData"]["Properties"]
    assert purge["Timeout"] == 900
    statements = resources["PurgeDataRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert [s["Resource"]["Fn::Sub"] for s in s3] == ["arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/archive/*"]
    rules = resources["DocumentBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (archive,) = [r for r in rules if r.get("Prefix") == "archive/"]
    assert {t["StorageClass"] for t in archive["Transitions"]} == {"GLACIER_IR", "DEEP_ARCHIVE"}
    alarm = resources["RetentionBacklogGrowingAlarm"]["Properties"]
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    assert any(m.get("Expression") == "DIFF(backlog)" for m in alarm["Metrics"])


def test_suppressed_notifications_raise_an_information_alarm_on_the_series_the_delivery_emits(resources):
    from chalicelib import observability as obs
    from chalicelib.services.delivery import NOTIFICATION

    alarm = _alarms(resources)["NotificationsSuppressedAlarm"]["Properties"]
    assert alarm["MetricName"] == obs.METRIC_DELIVERY_ATTEMPTS
    # The delivery service records a capped notification as record_delivery_attempt(NOTIFICATION, "suppressed").
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"service": obs.SERVICE, "channel": NOTIFICATION, "outcome": "suppressed"}
    assert alarm["AlarmActions"] == [{"Ref": "AlertsInfo"}]
