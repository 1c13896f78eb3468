"""Alarms and the dashboard, on the metric names chalicelib/observability.py emits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib import observability as obs
from chalicelib.queues import QueueSpec
from infra.template.common import API_NAME, API_STAGE, STATE_MACHINE, alarm, ref, sub
from infra.template.inventory import AppFunction


def resources(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
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
        ),
        "WorkflowTimedOutAlarm": alarm(
            "Workflow executions timed out",
            "AWS/States",
            "ExecutionsTimedOut",
            {"StateMachineArn": ref(STATE_MACHINE)},
            0,
            statistic="Sum",
            period=300,
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
        ),
    }
    for partner in obs.PARTNERS:
        resources[f"{partner.capitalize()}BreakerOpenAlarm"] = alarm(
            f"Circuit breaker to {partner} is open: calls fail fast",
            obs.NAMESPACE,
            obs.METRIC_BREAKER_OPEN,
            {**service, "partner": partner},
            0,
        )
    resources.update(retention_alarms(service))
    resources["Dashboard"] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub("${AWS::StackName}"), "DashboardBody": dashboard_body(functions, queues)},
    }
    return resources


def dashboard_body(functions: list[AppFunction], queues: Mapping[str, QueueSpec]) -> dict[str, Any]:
    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum", x: int = 0, y: int = 0) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 60,
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
        widget(
            "Partner latency p99 (ms)",
            [[obs.NAMESPACE, obs.METRIC_PARTNER_LATENCY, *svc, "partner", p] for p in obs.PARTNERS],
            stat="p99",
            x=0,
            y=18,
        ),
        widget(
            "Partner breakers open",
            [[obs.NAMESPACE, obs.METRIC_BREAKER_OPEN, *svc, "partner", p] for p in obs.PARTNERS],
            stat="Maximum",
            x=12,
            y=18,
        ),
        widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", "${%s}" % fn.logical_id] for fn in functions],
            x=0,
            y=24,
        ),
        widget(
            "Lambda duration p99",
            [["AWS/Lambda", "Duration", "FunctionName", "${%s}" % fn.logical_id] for fn in functions],
            stat="p99",
            x=12,
            y=24,
        ),
        widget(
            "RDS Proxy connections",
            [["AWS/RDS", m, "ProxyName", "${DatabaseProxy}"] for m in ("ClientConnections", "DatabaseConnections")],
            stat="Maximum",
            x=0,
            y=30,
        ),
        widget(
            "Redis",
            [
                ["AWS/ElastiCache", m, "ReplicationGroupId", "${Cache}"]
                for m in ("CacheHitRate", "EngineCPUUtilization")
            ],
            stat="Average",
            x=12,
            y=30,
        ),
    ]
    variables = {"ApiName": sub(API_NAME), "StateMachineArn": ref(STATE_MACHINE)}
    return sub(json.dumps({"widgets": widgets}, separators=(",", ":")), variables)


def retention_alarms(service: Mapping[str, str]) -> dict[str, Any]:
    """The purge job's backlog (rows still eligible after a daily run) grew three days in a row."""
    backlog = {
        "Namespace": obs.NAMESPACE,
        "MetricName": obs.METRIC_RETENTION_BACKLOG_TOTAL,
        "Dimensions": [{"Name": k, "Value": v} for k, v in service.items()],
    }
    return {
        "RetentionBacklogGrowingAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "purge_data leaves more eligible rows each day for 3 days (docs/data-lifecycle.md)",
                "Metrics": [
                    {
                        "Id": "backlog",
                        "MetricStat": {"Metric": backlog, "Period": 86400, "Stat": "Maximum"},
                        "ReturnData": False,
                    },
                    {"Id": "growth", "Expression": "DIFF(backlog)", "Label": "backlog growth", "ReturnData": True},
                ],
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0,
                "EvaluationPeriods": 3,
                "DatapointsToAlarm": 3,
                "TreatMissingData": "missing",
            },
        }
    }
