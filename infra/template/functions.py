"""Each function's properties merged into what Chalice generates: its own least-privilege role, log
group, VPC placement and the environment chalicelib/settings.py reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import observability as obs
from chalicelib.queues import QueueSpec
from infra import portal_template
from infra.template.common import (
    BUCKET_NAME,
    STATE_MACHINE_ARN,
    TemplateError,
    assume,
    get_att,
    policy,
    queue_arn,
    ref,
    sub,
)
from infra.template.database import cursor_secret, cursor_secret_arn, database_secret, database_url
from infra.template.inventory import FUNCTION_ACCESS, PARTNER_TASKS, Access, AppFunction

RESULT_CONSUMER = "on_result_message"


def function_role(fn: AppFunction, access: Access, queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att(f"{fn.logical_id}LogGroup", "Arn"),
        },
    ]
    if access.send:
        statements.append(
            {
                "Sid": "SendToQueues",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                "Resource": [queue_arn(queues[q]) for q in access.send],
            }
        )
    if access.dead_letter:
        statements.append(
            {
                "Sid": "SendToDeadLetterQueues",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                "Resource": [
                    sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + queues[q].dlq_name)
                    for q in access.dead_letter
                ],
            }
        )
    if access.consume:
        statements.append(
            {
                "Sid": "ConsumeQueues",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": [queue_arn(queues[q]) for q in access.consume],
            }
        )
    if access.start_workflow:
        statements.append(
            {
                "Sid": "StartWorkflow",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": sub(STATE_MACHINE_ARN),
            }
        )
    if access.describe_executions:
        statements.append(
            {
                "Sid": "DescribeExecutions",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution"],
                "Resource": sub(STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":*"),
            }
        )
    statements.append(
        {
            "Sid": "ReadRuntimeSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [database_secret(), cursor_secret_arn()],
        }
    )
    if access.webhook_secrets:
        statements.append(
            {
                "Sid": "ReadWebhookSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": sub(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                    "secret:${WebhookSecretPrefix}*"
                ),
            }
        )
    if access.bucket:
        statements.append(
            {
                "Sid": "Documents",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/*"),
            }
        )
    if access.archive:
        statements.append(
            {
                "Sid": "RetentionArchive",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/archive/*"),
            }
        )
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("lambda.amazonaws.com"),
            "ManagedPolicyArns": [ref("FunctionBasePolicy")],
            "Policies": [{"PolicyName": f"{fn.logical_id}-least-privilege", "PolicyDocument": policy(statements)}],
        },
    }


def function_base_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": "What every AME function needs and AWS only grants on '*': X-Ray and VPC ENIs",
            "PolicyDocument": policy(
                [
                    {
                        "Sid": "XRay",
                        "Effect": "Allow",
                        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                        "Resource": "*",
                    },
                    {
                        "Sid": "VpcNetworkInterfaces",
                        "Effect": "Allow",
                        "Action": [
                            "ec2:CreateNetworkInterface",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:DeleteNetworkInterface",
                            "ec2:AssignPrivateIpAddresses",
                            "ec2:UnassignPrivateIpAddresses",
                        ],
                        "Resource": "*",
                    },
                ]
            ),
        },
    }


def function_environment() -> dict[str, Any]:
    """Every variable chalicelib/settings.py reads, bound to this stack's resources and parameters."""
    return {
        "AME_STAGE": ref("Stage"),
        "AME_DATABASE_URL": database_url(),
        "AME_REDIS_URL": sub("rediss://${Cache.PrimaryEndPoint.Address}:${Cache.PrimaryEndPoint.Port}/0"),
        "AME_PARAMETRIZADOR_URL": ref("ParametrizadorUrl"),
        "AME_DOMINIOS_URL": ref("DominiosUrl"),
        "AME_PODERES_URL": ref("PoderesUrl"),
        "AME_PESSOAS_URL": ref("PessoasUrl"),
        "AME_CADASTRO_URL": ref("CadastroUrl"),
        "AME_NOTIFICACAO_URL": ref("NotificacaoUrl"),
        # Queue names are global per account and region (the decorators name them): no prefix.
        "AME_QUEUE_PREFIX": "",
        "AME_STATE_MACHINE_ARN": sub(STATE_MACHINE_ARN),
        "AME_BUCKET": ref("DocumentBucket"),
        "AME_PARTNER_TIMEOUT_SECONDS": ref("PartnerTimeoutSeconds"),
        "AME_JWKS_URL": ref("JwksUrl"),
        "AME_TOKEN_ISSUER": ref("TokenIssuer"),
        "AME_TOKEN_AUDIENCE": ref("TokenAudience"),
        "AME_CORS_ORIGINS": ref("CorsOrigins"),
        "AME_CALLER_LIMITS": ref("CallerLimits"),
        "AME_NOTIFICATION_CAP": ref("NotificationCap"),
        "AME_NOTIFICATION_CAP_WINDOW_SECONDS": ref("NotificationCapWindowSeconds"),
        "AME_TOKEN_ISSUERS": portal_template.token_issuers(),
        # Secrets by name only: their values are read at run time (anyone who may read a function's
        # configuration reads its environment). One cursor key for every container, or a search cursor
        # made by one would be refused by another.
        "AME_DATABASE_SECRET_ARN": database_secret(),
        "AME_CURSOR_SECRET_NAME": cursor_secret(),
        "POWERTOOLS_SERVICE_NAME": obs.SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": obs.NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": ref("LogLevel"),
        # Skips pydantic's scan of installed entry points for plugins at the first model (~20 ms cold).
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }


def resources(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    by_consumer = {spec.consumer: spec for spec in queues.values() if spec.consumer}
    resources: dict[str, Any] = {"FunctionBasePolicy": function_base_policy()}
    for fn in functions:
        access = FUNCTION_ACCESS.get(fn.key)
        if access is None:
            raise TemplateError(
                f"function {fn.key} has no row in FUNCTION_ACCESS (infra/template/inventory.py): "
                "say which queues, secrets and workflow it may touch"
            )
        props: dict[str, Any] = {
            "Role": get_att(f"{fn.logical_id}Role", "Arn"),
            "Environment": {"Variables": function_environment()},
            "VpcConfig": {"SecurityGroupIds": [ref("LambdaSecurityGroup")], "SubnetIds": ref("PrivateSubnetIds")},
            "LoggingConfig": {"LogGroup": ref(f"{fn.logical_id}LogGroup"), "LogFormat": "Text"},
        }
        if fn.key in PARTNER_TASKS:
            # A burst of orders cannot exhaust a partner: at most this many calls to it at once. A throttled
            # task invocation is Lambda.TooManyRequestsException, which every Task retries and then parks.
            props["ReservedConcurrentExecutions"] = ref("PartnerTaskConcurrency")
        merged: dict[str, Any] = {"Properties": props}
        if access.timeout:
            props["Timeout"] = access.timeout
        if fn.kind == "sqs":
            spec = by_consumer.get(fn.key)
            if spec is None or spec.name != fn.queue:
                raise TemplateError(
                    f"SQS handler {fn.key} reads queue {fn.queue!r}, which chalicelib/queues.py "
                    "does not list with that consumer"
                )
            props["Timeout"] = spec.consumer_timeout
            # Only these keys under the Chalice-generated event: its Queue and BatchSize stay as generated.
            source: dict[str, Any] = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
            if fn.key == RESULT_CONSUMER:
                # Notificação and the products' webhooks see at most this many consumers at once; messages
                # wait in the queue instead of being throttled back (ScalingConfig, not reserved concurrency).
                source["ScalingConfig"] = {"MaximumConcurrency": ref("DeliveryMaxConcurrency")}
            props["Events"] = {f"{fn.logical_id}SqsEventSource": {"Properties": source}}
            # The event source names the queue by ARN text, which CloudFormation cannot order on.
            merged["DependsOn"] = [spec.logical_id]
        resources[fn.logical_id] = merged
        resources[f"{fn.logical_id}Role"] = function_role(fn, access, queues)
        resources[f"{fn.logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/lambda/${AWS::StackName}/" + fn.logical_id),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        }
    return resources
