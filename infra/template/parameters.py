"""The stack's parameters (what a stage sets in infra/parameters/<stage>.json) and its conditions."""

from __future__ import annotations

from typing import Any

from infra.template.common import SEVERITY_NAMES, SEVERITY_TOPICS, ref

LOG_RETENTION_DAYS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]


def parameters(stage: str) -> dict[str, Any]:
    def text(default: str, description: str, **more: Any) -> dict[str, Any]:
        return {"Type": "String", "Default": default, "Description": description, **more}

    def number(default: float, description: str, **more: Any) -> dict[str, Any]:
        return {"Type": "Number", "Default": default, "Description": description, **more}

    url = {"AllowedPattern": r"^https?://.+"}
    return {
        "Stage": text(stage, "Chalice stage this stack runs", AllowedPattern="^[a-z][a-z0-9-]{0,15}$"),
        "StateMachineType": text(
            "STANDARD",
            "STANDARD keeps a year of execution history; EXPRESS is cheaper per transition (docs/cost.md)",
            AllowedValues=["STANDARD", "EXPRESS"],
        ),
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
        "PrivateSubnetIds": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Private subnets (2+ AZs) with a NAT route or VPC endpoints",
        },
        "DatabaseEngineVersion": text("8.0.mysql_aurora.3.08.0", "Aurora MySQL engine version"),
        "DatabaseName": text("ame", "Schema name", AllowedPattern="^[a-z][a-z0-9_]{0,63}$"),
        "DatabaseMinCapacity": number(0.5, "Aurora Serverless v2 minimum ACUs", MinValue=0.5),
        "DatabaseMaxCapacity": number(8, "Aurora Serverless v2 maximum ACUs", MinValue=1),
        "BackupRetentionDays": number(14, "Aurora automated backup retention (days)", MinValue=1, MaxValue=35),
        "CacheNodeType": text("cache.t4g.small", "ElastiCache node type"),
        "LogRetentionDays": number(30, "Retention of every log group", AllowedValues=LOG_RETENTION_DAYS),
        "WebhookSecretPrefix": text(
            "ame/webhooks/", "Secrets Manager name prefix of the areas' webhook secrets (secret_ref)"
        ),
        **alert_parameters(),
        "Api5xxRateThreshold": number(0.01, "API 5xx rate (0-1) over 5 minutes that raises the alarm"),
        "ApiP99LatencyMs": number(2000, "API p99 latency (ms) that raises the alarm"),
        "WorkflowFailureRateThreshold": number(
            0.05, "Share (0-1) of workflow executions ending FAILED over 5 minutes that pages", MinValue=0, MaxValue=1
        ),
        "BreakerOpenMinutes": number(
            5, "Minutes in a row a partner's breaker stays open before the aviso alarm", MinValue=1, MaxValue=60
        ),
        "ParkedOrderMaxAgeSeconds": number(
            3600, "Age (s) of the oldest parked order that pages (crítico)", MinValue=60
        ),
        "PartnerErrorRateThreshold": number(
            0.5, "Share (0-1) of a partner's calls failing over 5 minutes, 2 periods in a row", MinValue=0, MaxValue=1
        ),
        "PartnerLatencyAnomalyBand": number(
            3, "Width (standard deviations) of each partner's p95 latency anomaly band", MinValue=1, MaxValue=10
        ),
        # The alternative-route rule (docs/runbook.md).
        "AlternativeRouteErrorRate": number(
            0.1, "Alternative route rule: share (0-1) of a partner's calls failing", MinValue=0, MaxValue=1
        ),
        "AlternativeRouteP95Ms": number(1500, "Alternative route rule: a partner's p95 latency (ms)", MinValue=1),
        "AlternativeRoutePeriods": number(
            6, "Alternative route rule: consecutive 5-minute periods over either limit", MinValue=1, MaxValue=288
        ),
        # Disaster recovery (docs/runbook.md).
        "RegionRole": text(
            "PRIMARY",
            "PRIMARY creates the database and its secret; SECONDARY joins the "
            "Aurora Global Database named by GlobalClusterIdentifier",
            AllowedValues=["PRIMARY", "SECONDARY"],
        ),
        "SecondaryRegion": text("", "Region that receives the replicated secret (PRIMARY only; empty: none)"),
        "GlobalClusterIdentifier": text(
            "",
            "Aurora Global Database id (PRIMARY: created from this cluster; "
            "SECONDARY: joined). Empty: no global database",
        ),
        "ReplicaBucketArn": text(
            "", "Versioned bucket in the second region that receives object replicas (PRIMARY only; empty: none)"
        ),
        "ReplicaDatabaseSecretArn": text("", "SECONDARY only: ARN of the database secret's replica here"),
        "DatabaseKmsKeyId": text(
            "", "SECONDARY only: KMS key of this region for the encrypted replica cluster (empty: the default key)"
        ),
    }


def conditions() -> dict[str, Any]:
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
        "HasSlack": not_empty("SlackWorkspaceId"),
        **{
            f"Has{prefix}{what}": not_empty(f"{prefix}{what}")
            for prefix in SEVERITY_PREFIXES
            for what in ("Email", "Sms")
        },
        **{
            f"Has{prefix}Slack": {"Fn::And": [{"Condition": "HasSlack"}, not_empty(f"{prefix}SlackChannelId")]}
            for prefix in SEVERITY_PREFIXES
        },
    }


# Each severity's parameters are named after its topic: AlertsCriticalEmail, AlertsCriticalSms, ...
SEVERITY_PREFIXES = {topic: SEVERITY_NAMES[severity] for severity, topic in SEVERITY_TOPICS.items()}


def alert_parameters() -> dict[str, Any]:
    """Who hears each severity (docs/runbook.md): an e-mail address (a distribution list), an SMS number
    and a Slack channel (AWS Chatbot, after the workspace is authorised in its console). Empty: none."""
    found: dict[str, Any] = {
        "SlackWorkspaceId": {
            "Type": "String",
            "Default": "",
            "Description": "Slack workspace id authorised in AWS Chatbot (empty: no Slack)",
            "AllowedPattern": "^[0-9A-Z]{0,20}$",
        }
    }
    for prefix, name in SEVERITY_PREFIXES.items():
        found[f"{prefix}Email"] = {
            "Type": "String",
            "Default": "",
            "Description": f"E-mail that receives {name} alerts (empty: none)",
            "AllowedPattern": r"^([^@\s]+@[^@\s]+)?$",
        }
        found[f"{prefix}Sms"] = {
            "Type": "String",
            "Default": "",
            "Description": f"Phone (E.164, +55...) that receives {name} alerts by SMS (empty: none)",
            "AllowedPattern": r"^(\+[1-9][0-9]{7,14})?$",
        }
        found[f"{prefix}SlackChannelId"] = {
            "Type": "String",
            "Default": "",
            "Description": f"Slack channel id that receives {name} alerts (empty: none)",
            "AllowedPattern": "^[0-9A-Z]{0,20}$",
        }
    return found
