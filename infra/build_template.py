"""Writes the merge template for `chalice package` from chalicelib/queues.py, the ASL and the app's functions.

Nothing about queues, function names or metric names is typed twice: queues come from chalicelib.queues,
functions from the Chalice app object, Task placeholders from statemachine.asl.json, metric names from
chalicelib.observability. `chalice package` merges the result recursively into its own SAM template
(dicts merge, lists and scalars replace), so this file only adds keys to what Chalice generates - except
`Role`, which points each function at its own least-privilege role.

Usage: python infra/build_template.py [--out build/merge-template.json] [--stage dev]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib import observability as obs  # noqa: E402
from chalicelib.asl import logical_id, placeholders  # noqa: E402
from chalicelib.queues import QUEUES, QueueSpec  # noqa: E402
from infra import portal_template as portal  # noqa: E402

ASL_FILE = "statemachine.asl.json"
API_HANDLER = "APIHandler"
API_FUNCTION_KEY = "api_handler"   # the key for APIHandler (all routes) in FUNCTION_ACCESS
API_STAGE = "api"                  # .chalice/config.json api_gateway_stage
RETRY_PARAMETERS = ("RetryIntervalSeconds", "RetryMaxAttempts", "RetryBackoffRate")
STATE_MACHINE = "EnvelopeWorkflow"
LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653]


class TemplateError(ValueError):
    """The app, queues.py and the ASL disagree; the message says what to fix and where."""


@dataclass(frozen=True)
class Access:
    """What one function may touch beyond its own log group, X-Ray and the VPC."""

    send: tuple[str, ...] = ()            # logical queue names it sends to
    consume: tuple[str, ...] = ()         # logical queue names it is the event source of
    start_workflow: bool = False
    describe_executions: bool = False     # the sweeper asks whether an owning execution still runs
    dead_letter: tuple[str, ...] = ()     # logical queue names whose DLQ it sends to directly
    webhook_secrets: bool = False
    bucket: bool = False


# One row per Chalice function. A function missing here fails the build on purpose: whoever adds a
# function says what it may touch, rather than inheriting a broad default.
FUNCTION_ACCESS: dict[str, Access] = {
    API_FUNCTION_KEY: Access(send=("creation",)),
    "ame_token": Access(),  # the API's token authorizer: JWKS over HTTPS, nothing in AWS
    # bucket: claim checks (issue 6) — every consumer resolves them; senders of result events write them.
    "on_creation_message": Access(consume=("creation",), start_workflow=True, dead_letter=("creation",), bucket=True),
    "relay_outbox": Access(send=("creation", "result"), bucket=True),
    "load_order": Access(),
    "fetch_powers": Access(),
    "fetch_people": Access(),
    "check_operators": Access(),
    "decide_party": Access(),
    "evaluate_person": Access(),
    "conclude_order": Access(),
    "record_failure": Access(),
    "publish_result": Access(send=("result",), bucket=True),
    "park_order": Access(send=("creation",)),  # try again later: the delayed re-drive message
    "sweep_orders": Access(send=("creation",), describe_executions=True),
    "on_result_message": Access(consume=("result",), send=("envelope_ready",), dead_letter=("result",),
                                webhook_secrets=True, bucket=True),
}


@dataclass
class AppFunction:
    key: str                                 # FUNCTION_ACCESS key: Chalice name, or api_handler
    logical_id: str                          # Chalice's CloudFormation logical id
    kind: str                                # route | authorizer | lambda | sqs | schedule
    queue: str | None = None                 # for sqs: the queue name the decorator names
    extra: dict[str, Any] = field(default_factory=dict)


def app_functions(app: Any) -> list[AppFunction]:
    """Every Lambda function `chalice package` will emit for `app`, with its logical id."""
    found: list[AppFunction] = []
    if app.routes:
        found.append(AppFunction(API_FUNCTION_KEY, API_HANDLER, "route"))
    for auth in getattr(app, "builtin_auth_handlers", []):
        found.append(AppFunction(auth.name, logical_id(auth.name), "authorizer"))
    for fn in app.pure_lambda_functions:
        found.append(AppFunction(fn.name, logical_id(fn.name), "lambda"))
    for source in app.event_sources:
        kind = type(source).__name__
        if kind == "SQSEventConfig":
            found.append(AppFunction(source.name, logical_id(source.name), "sqs", queue=source.queue))
        elif kind in ("ScheduledEventConfig", "CloudWatchEventConfig"):
            found.append(AppFunction(source.name, logical_id(source.name), "schedule"))
        else:
            raise TemplateError(f"{source.name}: event source {kind} is not handled by infra/build_template.py")
    return found


def load_app() -> Any:
    import app as app_module  # the repository's app.py; importing it does no I/O by house rule

    return app_module.app


# ---------------------------------------------------------------------------------------------- helpers

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


def _alarm(description: str, namespace: str, metric: str, dimensions: Mapping[str, Any], threshold: Any,
           statistic: str = "Maximum", period: int = 60, evaluation_periods: int = 1,
           comparison: str = "GreaterThanThreshold") -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------- sections

def _parameters(stage: str) -> dict[str, Any]:
    def text(default: str, description: str, **more: Any) -> dict[str, Any]:
        return {"Type": "String", "Default": default, "Description": description, **more}

    def number(default: float, description: str, **more: Any) -> dict[str, Any]:
        return {"Type": "Number", "Default": default, "Description": description, **more}

    url = {"AllowedPattern": r"^https?://.+"}
    return {
        "Stage": text(stage, "Chalice stage this stack runs", AllowedPattern="^[a-z][a-z0-9-]{0,15}$"),
        "StateMachineType": text("STANDARD", "STANDARD keeps a year of execution history; EXPRESS is cheaper "
                                 "per transition (docs/cost.md)", AllowedValues=["STANDARD", "EXPRESS"]),
        "RetryIntervalSeconds": number(2, "First retry delay of each Task", MinValue=1),
        "RetryMaxAttempts": number(4, "Retries of each Task on a transient error", MinValue=0),
        "RetryBackoffRate": number(2.0, "Delay multiplier between retries (a float for the ASL)", MinValue=1),
        "ParametrizadorUrl": text("https://parametrizador.invalid", "Base URL of Parametrizador", **url),
        "DominiosUrl": text("https://dominios.invalid", "Base URL of Dominios", **url),
        "PoderesUrl": text("https://poderes.invalid", "Base URL of Poderes", **url),
        "PessoasUrl": text("https://pessoas.invalid", "Base URL of Pessoas", **url),
        "CadastroUrl": text("https://cadastro.invalid", "Base URL of Cadastro Unico", **url),
        "NotificacaoUrl": text("https://notificacao.invalid", "Base URL of Notificacao", **url),
        "JwksUrl": text("", "JWKS URL of the token issuer (empty: every API call is 401)"),
        "TokenIssuer": text("", "Expected `iss` of API tokens"),
        "TokenAudience": text("ame", "Expected `aud` of API tokens"),
        "CorsOrigins": text("", "Portal origins allowed by CORS, comma-separated (empty: none)"),
        "CallerRateLimit": number(50, "Steady requests per second allowed to each caller's API key", MinValue=1),
        "CallerBurstLimit": number(100, "Burst of requests allowed to each caller's API key", MinValue=1),
        "PartnerTimeoutSeconds": text("3", "Timeout of each partner call"),
        "LogLevel": text("INFO", "Log level of every function", AllowedValues=["DEBUG", "INFO", "WARNING", "ERROR"]),
        "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the database, the cache and the functions"},
        "PrivateSubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>",
                             "Description": "Private subnets (2+ AZs) with a NAT route or VPC endpoints"},
        "DatabaseEngineVersion": text("8.0.mysql_aurora.3.08.0", "Aurora MySQL engine version"),
        "DatabaseName": text("ame", "Schema name", AllowedPattern="^[a-z][a-z0-9_]{0,63}$"),
        "DatabaseMinCapacity": number(0.5, "Aurora Serverless v2 minimum ACUs", MinValue=0.5),
        "DatabaseMaxCapacity": number(8, "Aurora Serverless v2 maximum ACUs", MinValue=1),
        "BackupRetentionDays": number(14, "Aurora automated backup retention (days)", MinValue=1, MaxValue=35),
        "CacheNodeType": text("cache.t4g.small", "ElastiCache node type"),
        "LogRetentionDays": number(30, "Retention of every log group", AllowedValues=LOG_RETENTION_DAYS),
        "WebhookSecretPrefix": text("ame/webhooks/", "Secrets Manager name prefix of the areas' webhook "
                                    "secrets (secret_ref)"),
        "AlarmTopicArn": text("", "SNS topic that receives alarm state changes (empty: none)"),
        "Api5xxRateThreshold": number(0.01, "API 5xx rate (0-1) over 5 minutes that raises the alarm"),
        "ApiP99LatencyMs": number(2000, "API p99 latency (ms) that raises the alarm"),
        # Disaster recovery (docs/runbook.md).
        "RegionRole": text("PRIMARY", "PRIMARY creates the database and its secret; SECONDARY joins the "
                           "Aurora Global Database named by GlobalClusterIdentifier",
                           AllowedValues=["PRIMARY", "SECONDARY"]),
        "SecondaryRegion": text("", "Region that receives the replicated secret (PRIMARY only; empty: none)"),
        "GlobalClusterIdentifier": text("", "Aurora Global Database id (PRIMARY: created from this cluster; "
                                        "SECONDARY: joined). Empty: no global database"),
        "ReplicaBucketArn": text("", "Versioned bucket in the second region that receives object replicas "
                                 "(PRIMARY only; empty: none)"),
        "ReplicaDatabaseSecretArn": text("", "SECONDARY only: ARN of the database secret's replica here"),
        "DatabaseKmsKeyId": text("", "SECONDARY only: KMS key of this region for the encrypted replica "
                                 "cluster (empty: the default key)"),
    }


def _conditions() -> dict[str, Any]:
    def not_empty(name: str) -> dict[str, Any]:
        return {"Fn::Not": [{"Fn::Equals": [ref(name), ""]}]}

    return {
        "IsPrimary": {"Fn::Equals": [ref("RegionRole"), "PRIMARY"]},
        "IsSecondary": {"Fn::Equals": [ref("RegionRole"), "SECONDARY"]},
        "HasSecondaryRegion": {"Fn::And": [{"Condition": "IsPrimary"}, not_empty("SecondaryRegion")]},
        "HasGlobalCluster": not_empty("GlobalClusterIdentifier"),
        "CreatesGlobalCluster": {"Fn::And": [{"Condition": "IsPrimary"}, {"Condition": "HasGlobalCluster"}]},
        "ReplicatesBucket": {"Fn::And": [{"Condition": "IsPrimary"}, not_empty("ReplicaBucketArn")]},
        "HasDatabaseKmsKey": not_empty("DatabaseKmsKeyId"),
        "HasAlarmTopic": not_empty("AlarmTopicArn"),
    }


def _network() -> dict[str, Any]:
    def group(description: str, port: int | None = None, source: str | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {"GroupDescription": description, "VpcId": ref("VpcId")}
        if port is not None:
            props["SecurityGroupIngress"] = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                              "SourceSecurityGroupId": ref(source),
                                              "Description": f"from {source}"}]
        return {"Type": "AWS::EC2::SecurityGroup", "Properties": props}

    return {
        "LambdaSecurityGroup": group("AME functions: outbound only"),
        "ProxySecurityGroup": group("RDS Proxy: MySQL from the functions", 3306, "LambdaSecurityGroup"),
        "DatabaseSecurityGroup": group("Aurora: MySQL from the proxy only", 3306, "ProxySecurityGroup"),
        "CacheSecurityGroup": group("Redis: from the functions", 6379, "LambdaSecurityGroup"),
    }


def _database() -> dict[str, Any]:
    secret_arn = {"Fn::If": ["IsPrimary", ref("DatabaseSecret"), ref("ReplicaDatabaseSecretArn")]}
    primary_only = lambda value: {"Fn::If": ["IsPrimary", value, ref("AWS::NoValue")]}  # noqa: E731
    return {
        "DatabaseSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Condition": "IsPrimary",
            "Properties": {
                "Name": sub("ame/${Stage}/database"),
                "Description": "Aurora master user; read by RDS Proxy",
                "GenerateSecretString": {"SecretStringTemplate": json.dumps({"username": "ame"}),
                                         "GenerateStringKey": "password", "PasswordLength": 32,
                                         "ExcludePunctuation": True},
                "ReplicaRegions": {"Fn::If": ["HasSecondaryRegion", [{"Region": ref("SecondaryRegion")}],
                                              ref("AWS::NoValue")]},
            },
        },
        "CursorSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Condition": "IsPrimary",
            "Properties": {
                "Name": sub("ame/${Stage}/cursor"),
                "Description": "Signs search cursors (AME_CURSOR_SECRET)",
                "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
                "ReplicaRegions": {"Fn::If": ["HasSecondaryRegion", [{"Region": ref("SecondaryRegion")}],
                                              ref("AWS::NoValue")]},
            },
        },
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "AME Aurora", "SubnetIds": ref("PrivateSubnetIds")},
        },
        "DatabaseCluster": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "aurora-mysql",
                "EngineVersion": ref("DatabaseEngineVersion"),
                "DatabaseName": primary_only(ref("DatabaseName")),
                "MasterUsername": primary_only(sub("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:username}}")),
                "MasterUserPassword": primary_only(sub("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}")),
                "GlobalClusterIdentifier": {"Fn::If": ["IsSecondary", ref("GlobalClusterIdentifier"),
                                                       ref("AWS::NoValue")]},
                "KmsKeyId": {"Fn::If": ["HasDatabaseKmsKey", ref("DatabaseKmsKeyId"), ref("AWS::NoValue")]},
                "StorageEncrypted": True,
                "BackupRetentionPeriod": ref("BackupRetentionDays"),
                "PreferredBackupWindow": "05:00-06:00",
                "CopyTagsToSnapshot": True,
                "DeletionProtection": True,
                "EnableCloudwatchLogsExports": ["error", "slowquery"],
                "ServerlessV2ScalingConfiguration": {"MinCapacity": ref("DatabaseMinCapacity"),
                                                     "MaxCapacity": ref("DatabaseMaxCapacity")},
                "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
                "VpcSecurityGroupIds": [ref("DatabaseSecurityGroup")],
            },
        },
        **{
            name: {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {"Engine": "aurora-mysql", "DBInstanceClass": "db.serverless",
                               "DBClusterIdentifier": ref("DatabaseCluster"), "PubliclyAccessible": False},
            }
            for name in ("DatabaseWriter", "DatabaseReplica")  # two AZs: failover inside the region
        },
        "GlobalDatabase": {
            "Type": "AWS::RDS::GlobalCluster",
            "Condition": "CreatesGlobalCluster",
            "Properties": {"GlobalClusterIdentifier": ref("GlobalClusterIdentifier"),
                           "SourceDBClusterIdentifier": ref("DatabaseCluster")},
        },
        "DatabaseSecretAttachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Condition": "IsPrimary",
            "Properties": {"SecretId": ref("DatabaseSecret"), "TargetId": ref("DatabaseCluster"),
                           "TargetType": "AWS::RDS::DBCluster"},
        },
        "DatabaseProxyRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("rds.amazonaws.com"),
                "Policies": [{"PolicyName": "read-database-secret", "PolicyDocument": _policy([
                    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secret_arn},
                ])}],
            },
        },
        # Lambda scales to hundreds of containers; the proxy pools them onto few database connections.
        "DatabaseProxy": {
            "Type": "AWS::RDS::DBProxy",
            "Properties": {
                "DBProxyName": sub("${AWS::StackName}-proxy"),
                "EngineFamily": "MYSQL",
                "Auth": [{"AuthScheme": "SECRETS", "SecretArn": secret_arn, "IAMAuth": "DISABLED"}],
                "RoleArn": get_att("DatabaseProxyRole", "Arn"),
                "RequireTLS": True,
                "IdleClientTimeout": 1800,
                "VpcSubnetIds": ref("PrivateSubnetIds"),
                "VpcSecurityGroupIds": [ref("ProxySecurityGroup")],
            },
        },
        "DatabaseProxyTargetGroup": {
            "Type": "AWS::RDS::DBProxyTargetGroup",
            "DependsOn": ["DatabaseWriter"],
            "Properties": {
                "DBProxyName": ref("DatabaseProxy"),
                "TargetGroupName": "default",
                "DBClusterIdentifiers": [ref("DatabaseCluster")],
                "ConnectionPoolConfigurationInfo": {"MaxConnectionsPercent": 90, "MaxIdleConnectionsPercent": 10,
                                                    "ConnectionBorrowTimeout": 5},
            },
        },
    }


def database_url() -> dict[str, Any]:
    """AME_DATABASE_URL: the proxy endpoint, the secret resolved at deploy time, TLS checked against
    the CA bundle that requests ships (RDS Proxy presents an Amazon Trust Services certificate)."""
    return sub(
        "mysql+pymysql://{{resolve:secretsmanager:${SecretArn}:SecretString:username}}:"
        "{{resolve:secretsmanager:${SecretArn}:SecretString:password}}@${DatabaseProxy.Endpoint}:3306/"
        "${DatabaseName}?charset=utf8mb4&ssl_ca=/var/task/certifi/cacert.pem",
        {"SecretArn": {"Fn::If": ["IsPrimary", ref("DatabaseSecret"), ref("ReplicaDatabaseSecretArn")]}},
    )


def _cache() -> dict[str, Any]:
    return {
        "CacheSubnetGroup": {
            "Type": "AWS::ElastiCache::SubnetGroup",
            "Properties": {"Description": "AME Redis", "SubnetIds": ref("PrivateSubnetIds")},
        },
        "Cache": {
            "Type": "AWS::ElastiCache::ReplicationGroup",
            "Properties": {
                "ReplicationGroupDescription": sub("AME ${Stage} cache (areas, domains, breaker state)"),
                "Engine": "redis",
                "EngineVersion": "7.1",
                "CacheNodeType": ref("CacheNodeType"),
                "NumCacheClusters": 2,
                "AutomaticFailoverEnabled": True,
                "MultiAZEnabled": True,
                "AtRestEncryptionEnabled": True,
                "TransitEncryptionEnabled": True,
                "CacheSubnetGroupName": ref("CacheSubnetGroup"),
                "SecurityGroupIds": [ref("CacheSecurityGroup")],
            },
        },
    }


def _bucket() -> dict[str, Any]:
    bucket_arn = sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME)
    objects_arn = sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/*")
    return {
        "DocumentBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": sub(BUCKET_NAME),
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "infrequent-access-after-30-days", "Status": "Enabled",
                     "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]},
                    # Claim-checked messages: kept past the 14-day DLQ retention so a replay still finds them.
                    {"Id": "expire-claim-checks", "Status": "Enabled", "Prefix": "claims/",
                     "ExpirationInDays": 30},
                    {"Id": "expire-old-versions", "Status": "Enabled",
                     "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
                ]},
                "ReplicationConfiguration": {"Fn::If": ["ReplicatesBucket", {
                    "Role": get_att("BucketReplicationRole", "Arn"),
                    "Rules": [{"Id": "second-region", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                               "DeleteMarkerReplication": {"Status": "Enabled"},
                               "Destination": {"Bucket": ref("ReplicaBucketArn")}}],
                }, ref("AWS::NoValue")]},
            },
        },
        "DocumentBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": ref("DocumentBucket"), "PolicyDocument": _policy([
                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [bucket_arn, objects_arn], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ])},
        },
        "BucketReplicationRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "ReplicatesBucket",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("s3.amazonaws.com"),
                "Policies": [{"PolicyName": "replicate-documents", "PolicyDocument": _policy([
                    {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                     "Resource": bucket_arn},
                    {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                                                   "s3:GetObjectVersionTagging"], "Resource": objects_arn},
                    {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                     "Resource": sub("${ReplicaBucketArn}/*")},
                ])}],
            },
        },
    }


def _queues(queues: Mapping[str, QueueSpec], consumer_timeouts: Mapping[str, int]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for spec in queues.values():
        timeout = consumer_timeouts.get(spec.consumer or "", spec.consumer_timeout)
        if spec.consumer and spec.visibility_timeout < 6 * timeout:
            raise TemplateError(f"queue {spec.name}: visibility timeout {spec.visibility_timeout}s is below 6 x "
                                f"the consumer's timeout {timeout}s (chalicelib/queues.py)")
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
                "RedrivePolicy": {"deadLetterTargetArn": get_att(dlq, "Arn"),
                                  "maxReceiveCount": spec.max_receive_count},
            },
        }
        resources[dlq + "Alarm"] = _alarm(
            f"{spec.dlq_name} has messages: a {spec.logical} message failed {spec.max_receive_count} times "
            "(docs/runbook.md, replaying a DLQ)",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": get_att(dlq, "QueueName")}, 0)
    return resources


def _assume(service: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def _function_role(fn: AppFunction, access: Access, queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": get_att(f"{fn.logical_id}LogGroup", "Arn")},
    ]
    if access.send:
        statements.append({"Sid": "SendToQueues", "Effect": "Allow",
                           "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                           "Resource": [queue_arn(queues[q]) for q in access.send]})
    if access.dead_letter:
        statements.append({"Sid": "SendToDeadLetterQueues", "Effect": "Allow",
                           "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                           "Resource": [sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                            + queues[q].dlq_name) for q in access.dead_letter]})
    if access.consume:
        statements.append({"Sid": "ConsumeQueues", "Effect": "Allow",
                           "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                      "sqs:ChangeMessageVisibility"],
                           "Resource": [queue_arn(queues[q]) for q in access.consume]})
    if access.start_workflow:
        statements.append({"Sid": "StartWorkflow", "Effect": "Allow", "Action": ["states:StartExecution"],
                           "Resource": sub(STATE_MACHINE_ARN)})
    if access.describe_executions:
        statements.append({"Sid": "DescribeExecutions", "Effect": "Allow", "Action": ["states:DescribeExecution"],
                           "Resource": sub(STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":*")})
    if access.webhook_secrets:
        statements.append({"Sid": "ReadWebhookSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                           "secret:${WebhookSecretPrefix}*")})
    if access.bucket:
        statements.append({"Sid": "Documents", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                           "Resource": sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/*")})
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume("lambda.amazonaws.com"),
            "ManagedPolicyArns": [ref("FunctionBasePolicy")],
            "Policies": [{"PolicyName": f"{fn.logical_id}-least-privilege", "PolicyDocument": _policy(statements)}],
        },
    }


def _function_base_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": "What every AME function needs and AWS only grants on '*': X-Ray and VPC ENIs",
            "PolicyDocument": _policy([
                {"Sid": "XRay", "Effect": "Allow",
                 "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
                {"Sid": "VpcNetworkInterfaces", "Effect": "Allow",
                 "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                            "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                            "ec2:UnassignPrivateIpAddresses"], "Resource": "*"},
            ]),
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
        "AME_TOKEN_ISSUERS": portal.token_issuers(),
        # One key for every container, or a search cursor made by one would be refused by another.
        "AME_CURSOR_SECRET": sub("{{resolve:secretsmanager:${CursorSecretId}:SecretString}}",
                                 {"CursorSecretId": {"Fn::If": ["IsPrimary", ref("CursorSecret"),
                                                                sub("ame/${Stage}/cursor")]}}),
        "POWERTOOLS_SERVICE_NAME": obs.SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": obs.NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": ref("LogLevel"),
        # Skips pydantic's scan of installed entry points for plugins at the first model (~20 ms cold).
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }


def _functions(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    by_consumer = {spec.consumer: spec for spec in queues.values() if spec.consumer}
    resources: dict[str, Any] = {"FunctionBasePolicy": _function_base_policy()}
    for fn in functions:
        access = FUNCTION_ACCESS.get(fn.key)
        if access is None:
            raise TemplateError(f"function {fn.key} has no row in FUNCTION_ACCESS (infra/build_template.py): "
                                "say which queues, secrets and workflow it may touch")
        props: dict[str, Any] = {
            "Role": get_att(f"{fn.logical_id}Role", "Arn"),
            "Environment": {"Variables": function_environment()},
            "VpcConfig": {"SecurityGroupIds": [ref("LambdaSecurityGroup")], "SubnetIds": ref("PrivateSubnetIds")},
            "LoggingConfig": {"LogGroup": ref(f"{fn.logical_id}LogGroup"), "LogFormat": "Text"},
        }
        merged: dict[str, Any] = {"Properties": props}
        if fn.kind == "sqs":
            spec = by_consumer.get(fn.key)
            if spec is None or spec.name != fn.queue:
                raise TemplateError(f"SQS handler {fn.key} reads queue {fn.queue!r}, which chalicelib/queues.py "
                                    "does not list with that consumer")
            props["Timeout"] = spec.consumer_timeout
            # Only this key under the Chalice-generated event: its Queue and BatchSize stay as generated.
            props["Events"] = {f"{fn.logical_id}SqsEventSource": {
                "Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
            # The event source names the queue by ARN text, which CloudFormation cannot order on.
            merged["DependsOn"] = [spec.logical_id]
        resources[fn.logical_id] = merged
        resources[f"{fn.logical_id}Role"] = _function_role(fn, access, queues)
        resources[f"{fn.logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": sub("/aws/lambda/${AWS::StackName}/" + fn.logical_id),
                           "RetentionInDays": ref("LogRetentionDays")},
        }
    return resources


def _state_machine(asl_text: str, functions: list[AppFunction]) -> dict[str, Any]:
    lambdas = {fn.logical_id for fn in functions if fn.kind == "lambda"}
    substitutions: dict[str, Any] = {}
    for name in sorted(placeholders(asl_text)):
        if name in RETRY_PARAMETERS:
            substitutions[name] = ref(name)
        elif name.endswith("Arn") and name[:-3] in lambdas:
            substitutions[name] = get_att(name[:-3], "Arn")
        else:
            raise TemplateError(f"{ASL_FILE}: placeholder ${{{name}}} names no lambda_function of the app "
                                "and no template parameter")
    task_arns = [get_att(n[:-3], "Arn") for n in substitutions if n.endswith("Arn")]
    log_delivery = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]
    return {
        "StateMachineLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": sub("/aws/vendedlogs/states/${AWS::StackName}-workflow"),
                           "RetentionInDays": ref("LogRetentionDays")},
        },
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("states.amazonaws.com"),
                "Policies": [{"PolicyName": "invoke-task-functions", "PolicyDocument": _policy([
                    {"Sid": "InvokeTasks", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                     "Resource": task_arns + [sub("${Fn}:*", {"Fn": arn}) for arn in task_arns]},
                    {"Sid": "XRay", "Effect": "Allow", "Resource": "*",
                     "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                "xray:GetSamplingRules", "xray:GetSamplingTargets"]},
                    # CloudWatch Logs delivery for vended logs is only granted on '*'.
                    {"Sid": "LogDelivery", "Effect": "Allow", "Action": log_delivery, "Resource": "*"},
                ])}],
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
                "Logging": {"Level": "ERROR", "IncludeExecutionData": False, "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": get_att("StateMachineLogGroup", "Arn")}}]},
            },
        },
    }


def _api_edges() -> dict[str, Any]:
    """Per-caller throttling (a usage plan: each product or BFF gets an API key attached to it) and the
    gateway's own 401/404 answers as problem documents, like every answer of AME's code."""
    def problem(status: int, code: str, detail: str) -> str:
        return json.dumps({"type": f"https://ame.example/problems/{code.lower().replace('_', '-')}",
                           "title": "Não autenticado" if status == 401 else "Não encontrado",
                           "status": status, "code": code, "detail": detail}, ensure_ascii=False)

    def gateway_response(kind: str, status: int, code: str, detail: str) -> dict[str, Any]:
        return {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": ref("RestAPI"), "ResponseType": kind, "StatusCode": str(status),
            "ResponseParameters": {"gatewayresponse.header.Content-Type": "'application/problem+json'"},
            "ResponseTemplates": {"application/json": problem(status, code, detail)}}}

    return {
        "CallerUsagePlan": {"Type": "AWS::ApiGateway::UsagePlan", "DependsOn": ["RestAPIapiStage"], "Properties": {
            "UsagePlanName": sub("ame-${Stage}-callers"),
            "Description": "Per-caller throttling: attach each caller's API key (AWS::ApiGateway::UsagePlanKey)",
            "ApiStages": [{"ApiId": ref("RestAPI"), "Stage": API_STAGE}],
            "Throttle": {"RateLimit": ref("CallerRateLimit"), "BurstLimit": ref("CallerBurstLimit")}}},
        "UnauthorizedProblem": gateway_response("UNAUTHORIZED", 401, "INVALID_TOKEN",
                                                "token ausente ou inválido"),
        "MissingTokenProblem": gateway_response("MISSING_AUTHENTICATION_TOKEN", 404, "NOT_FOUND",
                                                "recurso não encontrado"),
    }


def _alarms_and_dashboard(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    service = {"service": obs.SERVICE}
    api = {"ApiName": sub(API_NAME), "Stage": API_STAGE}
    resources: dict[str, Any] = {
        "WorkflowTechnicalFailureAlarm": _alarm(
            "Orders ended FAILED after every retry (record_failure ran)", obs.NAMESPACE,
            obs.METRIC_WORKFLOW_FAILURES, service, 0, statistic="Sum", period=300),
        "WorkflowTimedOutAlarm": _alarm(
            "Workflow executions timed out", "AWS/States", "ExecutionsTimedOut",
            {"StateMachineArn": ref(STATE_MACHINE)}, 0, statistic="Sum", period=300),
        "Api5xxRateAlarm": _alarm(
            "API 5xx rate above Api5xxRateThreshold", "AWS/ApiGateway", "5XXError", api,
            ref("Api5xxRateThreshold"), statistic="Average", period=300, evaluation_periods=2),
        "ApiLatencyP99Alarm": _alarm(
            "API p99 latency above ApiP99LatencyMs", "AWS/ApiGateway", "Latency", api,
            ref("ApiP99LatencyMs"), statistic="p99", period=300, evaluation_periods=3),
    }
    for partner in obs.PARTNERS:
        resources[f"{partner.capitalize()}BreakerOpenAlarm"] = _alarm(
            f"Circuit breaker to {partner} is open: calls fail fast", obs.NAMESPACE, obs.METRIC_BREAKER_OPEN,
            {**service, "partner": partner}, 0)
    resources["Dashboard"] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub("${AWS::StackName}"),
                       "DashboardBody": _dashboard_body(functions, queues)},
    }
    return resources


def _dashboard_body(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum", x: int = 0, y: int = 0) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "region": "${AWS::Region}", "stat": stat, "period": 60,
                               "view": "timeSeries", "metrics": metrics}}

    svc = ["service", obs.SERVICE]
    api = ["ApiName", "${ApiName}", "Stage", API_STAGE]
    sm = ["StateMachineArn", "${StateMachineArn}"]
    widgets = [
        widget("Orders received and verdicts", [
            [obs.NAMESPACE, obs.METRIC_ORDERS_RECEIVED, *svc],
            [obs.NAMESPACE, obs.METRIC_VERDICTS, *svc],
            [obs.NAMESPACE, obs.METRIC_WORKFLOW_FAILURES, *svc]], x=0, y=0),
        widget("Workflow executions", [["AWS/States", m, *sm] for m in
                                       ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                        "ExecutionsTimedOut")], x=12, y=0),
        widget("API requests and errors", [["AWS/ApiGateway", m, *api] for m in ("Count", "4XXError", "5XXError")],
               x=0, y=6),
        widget("API latency p99", [["AWS/ApiGateway", "Latency", *api]], stat="p99", x=12, y=6),
        widget("Dead-letter queues", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", s.dlq_name]
                                      for s in queues.values()], stat="Maximum", x=0, y=12),
        widget("Queue age of oldest message", [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", s.name]
                                               for s in queues.values()], stat="Maximum", x=12, y=12),
        widget("Partner latency p99 (ms)", [[obs.NAMESPACE, obs.METRIC_PARTNER_LATENCY, *svc, "partner", p]
                                            for p in obs.PARTNERS], stat="p99", x=0, y=18),
        widget("Partner breakers open", [[obs.NAMESPACE, obs.METRIC_BREAKER_OPEN, *svc, "partner", p]
                                         for p in obs.PARTNERS], stat="Maximum", x=12, y=18),
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", "${%s}" % fn.logical_id]
                                 for fn in functions], x=0, y=24),
        widget("Lambda duration p99", [["AWS/Lambda", "Duration", "FunctionName", "${%s}" % fn.logical_id]
                                       for fn in functions], stat="p99", x=12, y=24),
        widget("RDS Proxy connections", [["AWS/RDS", m, "ProxyName", "${DatabaseProxy}"]
                                         for m in ("ClientConnections", "DatabaseConnections")],
               stat="Maximum", x=0, y=30),
        widget("Redis", [["AWS/ElastiCache", m, "ReplicationGroupId", "${Cache}"]
                         for m in ("CacheHitRate", "EngineCPUUtilization")], stat="Average", x=12, y=30),
    ]
    variables = {"ApiName": sub(API_NAME), "StateMachineArn": ref(STATE_MACHINE)}
    return sub(json.dumps({"widgets": widgets}, separators=(",", ":")), variables)


def build_template(app: Any = None, queues: Mapping[str, QueueSpec] = QUEUES, stage: str = "dev",
                   asl_text: str | None = None) -> dict[str, Any]:
    """The merge template as a dict; raises TemplateError when the app, queues.py and the ASL disagree."""
    app = app if app is not None else load_app()
    functions = app_functions(app)
    asl_text = asl_text if asl_text is not None else (ROOT / ASL_FILE).read_text(encoding="utf-8")
    consumer_timeouts = {s.consumer: s.consumer_timeout for s in queues.values() if s.consumer}
    resources: dict[str, Any] = {}
    for section in (_network(), _database(), _cache(), _bucket(), portal.resources(),
                    _queues(queues, consumer_timeouts),
                    _functions(functions, queues), _state_machine(asl_text, functions),
                    _alarms_and_dashboard(functions, queues)):
        overlap = set(section) & set(resources)
        if overlap:
            raise TemplateError(f"logical ids defined twice: {sorted(overlap)}")
        resources.update(section)
    if any(fn.kind == "route" for fn in functions):
        resources["RestAPI"] = {"Properties": {"Name": sub(API_NAME), "TracingEnabled": True}}
        resources.update(_api_edges())
    # Chalice's DefaultRole allows sqs:* reads on '*'; no function uses it any more, so it keeps no policy.
    resources["DefaultRole"] = {"Properties": {"Policies": []}}
    return {
        "Description": "AME: API, workflow, queues, database, cache and observability (infra/build_template.py)",
        "Parameters": {**_parameters(stage), **portal.parameters()},
        "Conditions": {**_conditions(), **portal.conditions()},
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Value": ref(STATE_MACHINE)},
            "DocumentBucketName": {"Value": ref("DocumentBucket")},
            "DatabaseProxyEndpoint": {"Value": get_att("DatabaseProxy", "Endpoint")},
            "CacheEndpoint": {"Value": get_att("Cache", "PrimaryEndPoint.Address")},
            **{f"{s.logical_id}Url": {"Value": ref(s.logical_id)} for s in queues.values()},
            **{f"{dlq_logical_id(s)}Url": {"Value": ref(dlq_logical_id(s))} for s in queues.values()},
            **portal.outputs(),
        },
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "merge-template.json"))
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        template = build_template(stage=args.stage)
    except TemplateError as exc:
        print(f"build_template: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"merge template written to {out} ({len(template['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
