"""Alarms by severity, their SNS topics and subscriptions, and the dashboard, on the metric names
chalicelib/observability.py emits. Every alarm routes to exactly one severity topic (docs/runbook.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib import observability as obs
from chalicelib.queues import QueueSpec
from infra.template.common import (
    API_NAME,
    API_STAGE,
    CRITICAL,
    INFO,
    SEVERITY_TOPICS,
    STATE_MACHINE,
    WARNING,
    alarm,
    get_att,
    metric_math_alarm,
    ref,
    routed,
    sub,
)
from infra.template.inventory import AppFunction

SEVERITY_ASCII = {INFO: "informacao", WARNING: "aviso", CRITICAL: "critico"}


def partner_id(partner: str) -> str:
    return partner.capitalize()


def resources(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    resources: dict[str, Any] = {**alert_topics(), **alarms(), **retention_alarms()}
    resources["Dashboard"] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub("${AWS::StackName}"), "DashboardBody": dashboard_body(functions, queues)},
    }
    return resources


def alert_topics() -> dict[str, Any]:
    """One SNS topic per severity, its e-mail/SMS subscriptions and optional Slack channel (AWS Chatbot)."""
    resources: dict[str, Any] = {}
    for severity, topic in SEVERITY_TOPICS.items():
        prefix = topic  # its parameters and conditions are named after the topic (parameters.py)
        resources[topic] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub("${AWS::StackName}-alerts-" + severity),
                # ASCII on purpose: SMS senders and some mail clients mangle accents.
                "DisplayName": f"AME {SEVERITY_ASCII[severity]}",
            },
        }
        for protocol, suffix in (("email", "Email"), ("sms", "Sms")):
            resources[f"{topic}{suffix}Subscription"] = {
                "Type": "AWS::SNS::Subscription",
                "Condition": f"Has{prefix}{suffix}",
                "Properties": {"TopicArn": ref(topic), "Protocol": protocol, "Endpoint": ref(f"{prefix}{suffix}")},
            }
        resources[f"{topic}SlackChannel"] = {
            "Type": "AWS::Chatbot::SlackChannelConfiguration",
            "Condition": f"Has{prefix}Slack",
            "Properties": {
                "ConfigurationName": sub("${AWS::StackName}-alerts-" + severity),
                "IamRoleArn": get_att("AlertsChatbotRole", "Arn"),
                "SlackWorkspaceId": ref("SlackWorkspaceId"),
                "SlackChannelId": ref(f"{prefix}SlackChannelId"),
                "SnsTopicArns": [ref(topic)],
                "GuardrailPolicies": [sub("arn:${AWS::Partition}:iam::aws:policy/CloudWatchReadOnlyAccess")],
                "LoggingLevel": "ERROR",
            },
        }
    resources["AlertsTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [ref(t) for t in SEVERITY_TOPICS.values()],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "CloudWatchAlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": [ref(t) for t in SEVERITY_TOPICS.values()],
                        "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                    }
                ],
            },
        },
    }
    resources["AlertsChatbotRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "HasSlack",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "chatbot.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            # Chatbot renders the alarm's graph in the channel: CloudWatch read access, nothing else.
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/CloudWatchReadOnlyAccess")],
        },
    }
    return resources


def _ame(metric: str, stat: str, **dimensions: Any) -> dict[str, Any]:
    return {
        "namespace": obs.NAMESPACE,
        "metric": metric,
        "dimensions": {"service": obs.SERVICE, **dimensions},
        "stat": stat,
    }


def alarms() -> dict[str, Any]:
    service = {"service": obs.SERVICE}
    api = {"ApiName": sub(API_NAME), "Stage": API_STAGE}
    resources: dict[str, Any] = {
        "WorkflowTechnicalFailureAlarm": alarm(
            "Orders ended FAILED after every retry (record_failure ran)",
            obs.NAMESPACE,
            obs.METRIC_WORKFLOW_FAILURES,
            service,
            0,
            statistic="Sum",
            period=300,
            severity=WARNING,
        ),
        # A person hit the notification cap (docs/delivery.md): the excess is recorded SUPPRESSED on the order;
        # someone is sending that person many orders, by mistake or on purpose.
        "NotificationsSuppressedAlarm": alarm(
            "Signer notifications suppressed by the per-person cap in the last hour",
            obs.NAMESPACE,
            obs.METRIC_DELIVERY_ATTEMPTS,
            {**service, "channel": "NOTIFICATION", "outcome": "suppressed"},
            0,
            statistic="Sum",
            period=3600,
            severity=INFO,
        ),
        "WorkflowFailureRateAlarm": metric_math_alarm(
            "Share of workflow executions ending FAILED above WorkflowFailureRateThreshold over 5 minutes",
            "FILL(failed, 0) / IF(FILL(started, 0) > 0, FILL(started, 0), 1)",
            {
                "failed": _ame(obs.METRIC_WORKFLOW_FAILURES, "Sum"),
                "started": {
                    "namespace": "AWS/States",
                    "metric": "ExecutionsStarted",
                    "dimensions": {"StateMachineArn": ref(STATE_MACHINE)},
                    "stat": "Sum",
                },
            },
            ref("WorkflowFailureRateThreshold"),
            severity=CRITICAL,
        ),
        "WorkflowTimedOutAlarm": alarm(
            "Workflow executions timed out",
            "AWS/States",
            "ExecutionsTimedOut",
            {"StateMachineArn": ref(STATE_MACHINE)},
            0,
            statistic="Sum",
            period=300,
            severity=CRITICAL,
        ),
        "Api5xxRateAlarm": alarm(
            "API 5xx rate above Api5xxRateThreshold",
            "AWS/ApiGateway",
            "5XXError",
            api,
            ref("Api5xxRateThreshold"),
            statistic="Average",
            period=300,
            evaluation_periods=2,
            severity=CRITICAL,
        ),
        "ApiLatencyP99Alarm": alarm(
            "API p99 latency above ApiP99LatencyMs",
            "AWS/ApiGateway",
            "Latency",
            api,
            ref("ApiP99LatencyMs"),
            statistic="p99",
            period=300,
            evaluation_periods=3,
            severity=WARNING,
        ),
        "ParkedBacklogGrowingAlarm": metric_math_alarm(
            "Orders parked waiting for a partner kept growing for 15 minutes",
            "IF(DIFF(parked) > 0, 1, 0)",
            {"parked": _ame(obs.METRIC_PARKED_ORDERS, "Maximum")},
            0,
            severity=WARNING,
            evaluation_periods=3,
            datapoints=3,
        ),
        "OrdersParkedTooLongAlarm": alarm(
            "An order has been parked waiting for a partner longer than ParkedOrderMaxAgeSeconds",
            obs.NAMESPACE,
            obs.METRIC_OLDEST_PARKED_AGE,
            service,
            ref("ParkedOrderMaxAgeSeconds"),
            statistic="Maximum",
            period=300,
            severity=CRITICAL,
        ),
    }
    for partner in obs.PARTNERS:
        resources.update(partner_alarms(partner))
    return resources


def partner_alarms(partner: str) -> dict[str, Any]:
    """One partner's alarms: breaker opened (informação), open for long, error rate, latency anomaly and
    alternative route needed (aviso), and the partner-down composite (crítico) that pages once."""
    pid = partner_id(partner)
    calls = _ame(obs.METRIC_PARTNER_LATENCY, "SampleCount", partner=partner)
    transient = _ame(obs.METRIC_PARTNER_ERRORS, "Sum", partner=partner, kind="transient")
    permanent = _ame(obs.METRIC_PARTNER_ERRORS, "Sum", partner=partner, kind="permanent")
    error_rate = "(FILL(transient, 0) + FILL(permanent, 0)) / IF(FILL(calls, 0) > 0, FILL(calls, 0), 1)"
    resources: dict[str, Any] = {
        f"{pid}BreakerOpenAlarm": alarm(
            f"Circuit breaker to {partner} opened: calls fail fast",
            obs.NAMESPACE,
            obs.METRIC_BREAKER_OPEN,
            {"service": obs.SERVICE, "partner": partner},
            0,
            severity=INFO,
        ),
        f"{pid}BreakerOpenLongAlarm": alarm(
            f"Circuit breaker to {partner} open for BreakerOpenMinutes minutes in a row",
            obs.NAMESPACE,
            obs.METRIC_BREAKER_OPEN,
            {"service": obs.SERVICE, "partner": partner},
            0,
            evaluation_periods=ref("BreakerOpenMinutes"),
            datapoints=ref("BreakerOpenMinutes"),
            severity=WARNING,
        ),
        f"{pid}ErrorRateAlarm": metric_math_alarm(
            f"Share of calls to {partner} failing above PartnerErrorRateThreshold for 10 minutes",
            error_rate,
            {"transient": transient, "permanent": permanent, "calls": calls},
            ref("PartnerErrorRateThreshold"),
            severity=WARNING,
            evaluation_periods=2,
            datapoints=2,
        ),
        f"{pid}LatencyAnomalyAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": routed(
                {
                    "AlarmDescription": f"p95 latency of {partner} above its anomaly detection band for 15 minutes",
                    "Metrics": [
                        {
                            "Id": "latency",
                            "ReturnData": True,
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": obs.NAMESPACE,
                                    "MetricName": obs.METRIC_PARTNER_LATENCY,
                                    "Dimensions": [
                                        {"Name": "service", "Value": obs.SERVICE},
                                        {"Name": "partner", "Value": partner},
                                    ],
                                },
                                "Period": 300,
                                "Stat": "p95",
                            },
                        },
                        {
                            "Id": "band",
                            "Expression": sub("ANOMALY_DETECTION_BAND(latency, ${PartnerLatencyAnomalyBand})"),
                            "Label": f"{partner} p95 expected band",
                            "ReturnData": True,
                        },
                    ],
                    "ThresholdMetricId": "band",
                    "ComparisonOperator": "GreaterThanUpperThreshold",
                    "EvaluationPeriods": 3,
                    "DatapointsToAlarm": 3,
                    "TreatMissingData": "notBreaching",
                },
                WARNING,
            ),
        },
        # The alternative-route rule (docs/runbook.md): for AlternativeRoutePeriods 5-minute periods in a row, the partner
        # fails more than AlternativeRouteErrorRate of its calls or answers slower than AlternativeRouteP95Ms
        # at p95. Either way AME's orders are waiting on it: time to agree a contingency with its owners.
        f"{pid}AlternativeRouteAlarm": metric_math_alarm(
            f"Alternative route needed for {partner}: error rate or p95 latency over the rule's limits",
            sub(
                f"IF(({error_rate}) > ${{AlternativeRouteErrorRate}} OR FILL(p95, 0) > ${{AlternativeRouteP95Ms}}, 1, 0)"
            ),
            {
                "transient": transient,
                "permanent": permanent,
                "calls": calls,
                "p95": _ame(obs.METRIC_PARTNER_LATENCY, "p95", partner=partner),
            },
            0,
            severity=WARNING,
            evaluation_periods=ref("AlternativeRoutePeriods"),
            datapoints=ref("AlternativeRoutePeriods"),
        ),
        f"{pid}DownAlarm": {
            "Type": "AWS::CloudWatch::CompositeAlarm",
            "Properties": routed(
                {
                    "AlarmName": sub("${AWS::StackName}-" + partner + "-down"),
                    "AlarmDescription": (
                        f"{partner} is down and orders pile up: its breaker stays open or its calls fail, "
                        "while the parked backlog grows. One page for the whole incident."
                    ),
                    "AlarmRule": sub(
                        f'(ALARM("${{{pid}BreakerOpenLongAlarm}}") OR ALARM("${{{pid}ErrorRateAlarm}}")) '
                        'AND ALARM("${ParkedBacklogGrowingAlarm}")'
                    ),
                },
                CRITICAL,
            ),
        },
    }
    return resources


PARTNER_ERROR_RATE = "(FILL(transient{i}, 0) + FILL(permanent{i}, 0)) / IF(FILL(calls{i}, 0) > 0, FILL(calls{i}, 0), 1)"
# Verdicts carry area and verdict dimensions: their total over every area is a SEARCH.
VERDICTS_TOTAL = "SUM(SEARCH('{%s,area,service,verdict} MetricName=\"%s\"', 'Sum', 300))" % (
    obs.NAMESPACE,
    obs.METRIC_VERDICTS,
)


def dashboard_body(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    def widget(
        title: str,
        metrics: list[list[Any]],
        stat: str = "Sum",
        x: int = 0,
        y: int = 0,
        width: int = 12,
        period: int = 60,
    ) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": period,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    svc = ["service", obs.SERVICE]
    api = ["ApiName", "${ApiName}", "Stage", API_STAGE]
    sm = ["StateMachineArn", "${StateMachineArn}"]
    widgets = [
        widget(
            "Orders received and verdicts",
            [
                [obs.NAMESPACE, obs.METRIC_ORDERS_RECEIVED, *svc],
                [obs.NAMESPACE, obs.METRIC_VERDICTS, *svc],
                [obs.NAMESPACE, obs.METRIC_WORKFLOW_FAILURES, *svc],
            ],
            x=0,
            y=0,
        ),
        widget(
            "Workflow executions",
            [
                ["AWS/States", m, *sm]
                for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
            ],
            x=12,
            y=0,
        ),
        widget(
            "API requests and errors",
            [["AWS/ApiGateway", m, *api] for m in ("Count", "4XXError", "5XXError")],
            x=0,
            y=6,
        ),
        widget("API latency p99", [["AWS/ApiGateway", "Latency", *api]], stat="p99", x=12, y=6),
        widget(
            "Dead-letter queues",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", s.dlq_name] for s in queues.values()],
            stat="Maximum",
            x=0,
            y=12,
        ),
        widget(
            "Queue age of oldest message",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", s.name] for s in queues.values()],
            stat="Maximum",
            x=12,
            y=12,
        ),
        *[
            widget(
                f"Partner latency {stat} (ms)",
                [[obs.NAMESPACE, obs.METRIC_PARTNER_LATENCY, *svc, "partner", p] for p in obs.PARTNERS],
                stat=stat,
                x=8 * i,
                y=18,
                width=8,
            )
            for i, stat in enumerate(("p50", "p95", "p99"))
        ],
        widget(
            "Partner error rate (failed calls / calls)",
            [
                row
                for i, p in enumerate(obs.PARTNERS)
                for row in (
                    [{"expression": PARTNER_ERROR_RATE.format(i=i), "label": p, "id": f"rate{i}"}],
                    [
                        obs.NAMESPACE,
                        obs.METRIC_PARTNER_ERRORS,
                        *svc,
                        "partner",
                        p,
                        "kind",
                        "transient",
                        {"id": f"transient{i}", "visible": False},
                    ],
                    [
                        obs.NAMESPACE,
                        obs.METRIC_PARTNER_ERRORS,
                        *svc,
                        "partner",
                        p,
                        "kind",
                        "permanent",
                        {"id": f"permanent{i}", "visible": False},
                    ],
                    [
                        obs.NAMESPACE,
                        obs.METRIC_PARTNER_LATENCY,
                        *svc,
                        "partner",
                        p,
                        {"id": f"calls{i}", "stat": "SampleCount", "visible": False},
                    ],
                )
            ],
            x=0,
            y=24,
        ),
        widget(
            "Partner breakers open (1 = open)",
            [[obs.NAMESPACE, obs.METRIC_BREAKER_OPEN, *svc, "partner", p] for p in obs.PARTNERS],
            stat="Maximum",
            x=12,
            y=24,
        ),
        widget(
            "Partner calls per order (calls / verdicts)",
            [
                [{"expression": VERDICTS_TOTAL, "id": "verdicts", "visible": False}],
                *[
                    row
                    for i, p in enumerate(obs.PARTNERS)
                    for row in (
                        [
                            {
                                "expression": f"FILL(calls{i}, 0) / IF(FILL(verdicts, 0) > 0, FILL(verdicts, 0), 1)",
                                "label": p,
                                "id": f"per{i}",
                            }
                        ],
                        [
                            obs.NAMESPACE,
                            obs.METRIC_PARTNER_LATENCY,
                            *svc,
                            "partner",
                            p,
                            {"id": f"calls{i}", "stat": "SampleCount", "visible": False},
                        ],
                    )
                ],
            ],
            x=0,
            y=30,
            period=300,
        ),
        widget(
            "Parked orders and the oldest one's age (s)",
            [
                [obs.NAMESPACE, obs.METRIC_PARKED_ORDERS, *svc],
                [obs.NAMESPACE, obs.METRIC_OLDEST_PARKED_AGE, *svc, {"yAxis": "right"}],
            ],
            stat="Maximum",
            x=12,
            y=30,
        ),
        widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", "${%s}" % fn.logical_id] for fn in functions],
            x=0,
            y=36,
        ),
        widget(
            "Lambda duration p99",
            [["AWS/Lambda", "Duration", "FunctionName", "${%s}" % fn.logical_id] for fn in functions],
            stat="p99",
            x=12,
            y=36,
        ),
        widget(
            "RDS Proxy connections",
            [["AWS/RDS", m, "ProxyName", "${DatabaseProxy}"] for m in ("ClientConnections", "DatabaseConnections")],
            stat="Maximum",
            x=0,
            y=42,
        ),
        widget(
            "Redis",
            [
                ["AWS/ElastiCache", m, "ReplicationGroupId", "${Cache}"]
                for m in ("CacheHitRate", "EngineCPUUtilization")
            ],
            stat="Average",
            x=12,
            y=42,
        ),
    ]
    variables = {"ApiName": sub(API_NAME), "StateMachineArn": ref(STATE_MACHINE)}
    return sub(json.dumps({"widgets": widgets}, separators=(",", ":")), variables)


def retention_alarms() -> dict[str, Any]:
    """The purge job's backlog (rows still eligible after a daily run) grew three days in a row
    (docs/data-lifecycle.md): someone looks today."""
    backlog = {
        "namespace": obs.NAMESPACE,
        "metric": obs.METRIC_RETENTION_BACKLOG_TOTAL,
        "dimensions": {"service": obs.SERVICE},
        "stat": "Maximum",
    }
    return {
        "RetentionBacklogGrowingAlarm": metric_math_alarm(
            "purge_data leaves more eligible rows each day, 3 days in a row (docs/data-lifecycle.md)",
            "DIFF(backlog)",
            {"backlog": backlog},
            0,
            severity=WARNING,
            period=86400,
            evaluation_periods=3,
            datapoints=3,
        )
    }
