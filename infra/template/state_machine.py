"""The Step Functions state machine: its definition from statemachine.asl.json, role and log group."""

from __future__ import annotations

from typing import Any

from chalicelib.asl import definition_for_substitutions, load_definition, placeholders
from infra.template.common import (
    ASL_FILE,
    RETRY_PARAMETERS,
    STATE_MACHINE,
    STATE_MACHINE_NAME,
    TemplateError,
    assume,
    get_att,
    policy,
    ref,
    sub,
)
from infra.template.inventory import AppFunction


def resources(asl_text: str, functions: list[AppFunction]) -> dict[str, Any]:
    """The state machine reads the packaged copy of the ASL (chalicelib.asl.definition_for_substitutions):
    its Task ARNs come from the app's functions, its retry numbers from the template's parameters."""
    lambdas = {fn.logical_id for fn in functions if fn.kind == "lambda"}
    substitutions: dict[str, Any] = {}
    for name in sorted(placeholders(definition_for_substitutions(load_definition(asl_text)))):
        if name in RETRY_PARAMETERS:
            substitutions[name] = ref(name)
        elif name.endswith("Arn") and name[:-3] in lambdas:
            substitutions[name] = get_att(name[:-3], "Arn")
        else:
            raise TemplateError(
                f"{ASL_FILE}: placeholder ${{{name}}} names no lambda_function of the app and no template parameter"
            )
    task_arns = [get_att(n[:-3], "Arn") for n in substitutions if n.endswith("Arn")]
    log_delivery = [
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ]
    return {
        "StateMachineLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/vendedlogs/states/${AWS::StackName}-workflow"),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        },
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume("states.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": "invoke-task-functions",
                        "PolicyDocument": policy(
                            [
                                {
                                    "Sid": "InvokeTasks",
                                    "Effect": "Allow",
                                    "Action": ["lambda:InvokeFunction"],
                                    "Resource": task_arns + [sub("${Fn}:*", {"Fn": arn}) for arn in task_arns],
                                },
                                {
                                    "Sid": "XRay",
                                    "Effect": "Allow",
                                    "Resource": "*",
                                    "Action": [
                                        "xray:PutTraceSegments",
                                        "xray:PutTelemetryRecords",
                                        "xray:GetSamplingRules",
                                        "xray:GetSamplingTargets",
                                    ],
                                },
                                # CloudWatch Logs delivery for vended logs is only granted on '*'.
                                {"Sid": "LogDelivery", "Effect": "Allow", "Action": log_delivery, "Resource": "*"},
                            ]
                        ),
                    }
                ],
            },
        },
        STATE_MACHINE: {
            "Type": "AWS::Serverless::StateMachine",
            "Properties": {
                "Name": sub(STATE_MACHINE_NAME),
                "Type": ref("StateMachineType"),
                "DefinitionUri": ASL_FILE,
                "DefinitionSubstitutions": substitutions,
                "Role": get_att("StateMachineRole", "Arn"),
                "Tracing": {"Enabled": True},
                "Logging": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": get_att("StateMachineLogGroup", "Arn")}}
                    ],
                },
            },
        },
    }
