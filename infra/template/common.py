"""Names and helpers every section of the merge template shares: intrinsic functions, IAM documents,
alarms, and the logical ids and resource names more than one section refers to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.asl import RETRY_SETTINGS
from chalicelib.queues import QueueSpec

ASL_FILE = "statemachine.asl.json"
API_HANDLER = "APIHandler"
API_FUNCTION_KEY = "api_handler"  # the key for APIHandler (all routes) in FUNCTION_ACCESS
API_STAGE = "api"  # .chalice/config.json api_gateway_stage
RETRY_PARAMETERS = tuple(RETRY_SETTINGS)  # template parameters named like the ASL retry settings
STATE_MACHINE = "EnvelopeWorkflow"


class TemplateError(ValueError):
    """The app, queues.py and the ASL disagree; the message says what to fix and where."""


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"Fn::Sub": [text, dict(variables)] if variables else text}


def dlq_logical_id(spec: QueueSpec) -> str:
    return spec.logical_id.removesuffix("Queue") + "DeadLetterQueue"


def queue_arn(spec: QueueSpec) -> dict[str, Any]:
    # Built from the name rather than GetAtt so a policy or a DLQ's redrive-allow list can name the
    # queue without a dependency cycle.
    return sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + spec.name)


STATE_MACHINE_NAME = "${AWS::StackName}-workflow"
STATE_MACHINE_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + STATE_MACHINE_NAME
BUCKET_NAME = "ame-${Stage}-documents-${AWS::AccountId}-${AWS::Region}"
API_NAME = "ame-${Stage}"


# Alert severities (docs/runbook.md): each is one SNS topic; every alarm routes to exactly one of them.
INFO = "info"  # informação: read during working hours, nobody is woken up
WARNING = "warning"  # aviso: someone looks today (e-mail, Slack)
CRITICAL = "critical"  # crítico: page now (SMS as well)
SEVERITY_TOPICS = {INFO: "AlertsInfo", WARNING: "AlertsWarning", CRITICAL: "AlertsCritical"}
SEVERITY_NAMES = {INFO: "informação", WARNING: "aviso", CRITICAL: "crítico"}


def routed(properties: dict[str, Any], severity: str) -> dict[str, Any]:
    """`properties` of an alarm (metric or composite) with its state changes sent to `severity`'s topic."""
    topic = [ref(SEVERITY_TOPICS[severity])]
    return {**properties, "AlarmActions": topic, "OKActions": topic}


def alarm(
    description: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, Any],
    threshold: Any,
    statistic: str = "Maximum",
    period: int = 60,
    evaluation_periods: int = 1,
    comparison: str = "GreaterThanThreshold",
    *,
    severity: str,
    datapoints: int | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Period": period,
        ("ExtendedStatistic" if statistic.startswith("p") else "Statistic"): statistic,
    }
    return _evaluated(props, evaluation_periods, threshold, comparison, datapoints, severity)


def metric_math_alarm(
    description: str,
    expression: Any,
    metrics: Mapping[str, Mapping[str, Any]],
    threshold: Any,
    *,
    severity: str,
    period: int = 300,
    evaluation_periods: int = 1,
    datapoints: int | None = None,
    comparison: str = "GreaterThanThreshold",
) -> dict[str, Any]:
    """An alarm on `expression` (metric math over `metrics`: id -> {namespace, metric, dimensions, stat})."""
    queries: list[dict[str, Any]] = [
        {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": m["namespace"],
                    "MetricName": m["metric"],
                    "Dimensions": [{"Name": k, "Value": v} for k, v in m["dimensions"].items()],
                },
                "Period": period,
                "Stat": m["stat"],
            },
        }
        for metric_id, m in metrics.items()
    ]
    queries.append({"Id": "result", "Expression": expression, "Label": description[:60], "ReturnData": True})
    props: dict[str, Any] = {"AlarmDescription": description, "Metrics": queries}
    return _evaluated(props, evaluation_periods, threshold, comparison, datapoints, severity)


def _evaluated(
    props: dict[str, Any],
    evaluation_periods: int,
    threshold: Any,
    comparison: str,
    datapoints: int | None,
    severity: str,
) -> dict[str, Any]:
    """A metric alarm (one metric or metric math) with how it is evaluated, routed to `severity`'s topic;
    missing data never breaches."""
    props = {
        **props,
        "EvaluationPeriods": evaluation_periods,
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "TreatMissingData": "notBreaching",
    }
    if datapoints is not None:
        props["DatapointsToAlarm"] = datapoints
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": routed(props, severity)}


def assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}
