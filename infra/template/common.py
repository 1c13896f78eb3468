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
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Period": period,
        "EvaluationPeriods": evaluation_periods,
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "TreatMissingData": "notBreaching",
        "AlarmActions": {"Fn::If": ["HasAlarmTopic", [ref("AlarmTopicArn")], ref("AWS::NoValue")]},
        "OKActions": {"Fn::If": ["HasAlarmTopic", [ref("AlarmTopicArn")], ref("AWS::NoValue")]},
    }
    if statistic.startswith("p"):
        props["ExtendedStatistic"] = statistic
    else:
        props["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}
