"""Writes infra/grafana/ame-partners.json: AME's partner bottlenecks for Grafana (Amazon Managed Grafana or
any Grafana with the CloudWatch data source), on the metric names chalicelib/observability.py emits.

Variables: the CloudWatch data source, the region, the stage (API Gateway `ame-<stage>`, queues) and the
`service` dimension of AME's EMF metrics (POWERTOOLS_SERVICE_NAME, "ame" unless a stage sets another).

Usage: python infra/grafana/build_dashboard.py [--check]   (--check: fail when the committed file differs)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib import observability as obs  # noqa: E402

OUT = Path(__file__).with_name("ame-partners.json")
DATASOURCE = {"type": "cloudwatch", "uid": "${datasource}"}


def metric(ref: str, metric_name: str, stat: str, label: str, namespace: str = obs.NAMESPACE, **dims: str) -> dict:
    dimensions = {"service": "$service", **dims} if namespace == obs.NAMESPACE else dims
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        "region": "$region",
        "namespace": namespace,
        "metricName": metric_name,
        "dimensions": dimensions,
        "statistic": stat,
        "matchExact": True,
        "period": "",
        "label": label,
        "id": "",
        "expression": "",
    }


def insights(ref: str, sql: str, hide: bool = False) -> dict:
    """A CloudWatch Metrics Insights query (sums over every value of a dimension)."""
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "queryMode": "Metrics",
        "metricQueryType": 1,
        "metricEditorMode": 1,
        "region": "$region",
        "sqlExpression": sql,
        "period": "300",
        "hide": hide,
    }


def math(ref: str, expression: str) -> dict:
    return {
        "refId": ref,
        "datasource": {"type": "__expr__", "uid": "__expr__"},
        "type": "math",
        "expression": expression,
    }


def panel(pid: int, title: str, targets: list[dict], x: int, y: int, unit: str = "short", w: int = 12) -> dict:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"]}},
        "targets": targets,
    }


def dashboard() -> dict[str, Any]:
    partners = "$partner"
    ns, svc = obs.NAMESPACE, "'$service'"
    label = "${PROP('Dim.partner')}"
    panels = [
        panel(
            i + 1,
            f"Latência por parceiro {stat} (ms)",
            [metric("A", obs.METRIC_PARTNER_LATENCY, stat, label, partner=partners)],
            x=8 * i,
            y=0,
            unit="ms",
            w=8,
        )
        for i, stat in enumerate(("p50", "p95", "p99"))
    ]
    panels += [
        panel(
            4,
            "Taxa de erro por parceiro (chamadas com falha / chamadas)",
            [
                insights(
                    "ERR",
                    f'SELECT SUM({obs.METRIC_PARTNER_ERRORS}) FROM SCHEMA("{ns}", kind, partner, service) '
                    f"WHERE service = {svc} GROUP BY partner",
                    hide=True,
                ),
                insights(
                    "CALLS",
                    f'SELECT COUNT({obs.METRIC_PARTNER_LATENCY}) FROM SCHEMA("{ns}", partner, service) '
                    f"WHERE service = {svc} GROUP BY partner",
                    hide=True,
                ),
                math("RATE", "$ERR / $CALLS"),
            ],
            x=0,
            y=8,
            unit="percentunit",
        ),
        panel(
            5,
            "Disjuntor aberto (1 = aberto)",
            [metric("A", obs.METRIC_BREAKER_OPEN, "Maximum", label, partner=partners)],
            x=12,
            y=8,
        ),
        panel(
            6,
            "Chamadas por ordem, por parceiro (chamadas / veredictos)",
            [
                insights(
                    "CALLS",
                    f'SELECT COUNT({obs.METRIC_PARTNER_LATENCY}) FROM SCHEMA("{ns}", partner, service) '
                    f"WHERE service = {svc} GROUP BY partner",
                    hide=True,
                ),
                insights(
                    "VERDICTS",
                    f'SELECT SUM({obs.METRIC_VERDICTS}) FROM SCHEMA("{ns}", area, service, verdict) '
                    f"WHERE service = {svc}",
                    hide=True,
                ),
                math("PER_ORDER", "$CALLS / $VERDICTS"),
            ],
            x=0,
            y=16,
        ),
        panel(
            7,
            "Ordens estacionadas aguardando parceiro",
            [
                metric("A", obs.METRIC_PARKED_ORDERS, "Maximum", "estacionadas"),
                metric("B", obs.METRIC_OLDEST_PARKED_AGE, "Maximum", "idade da mais antiga (s)"),
            ],
            x=12,
            y=16,
        ),
        panel(
            8,
            "Ordens recebidas e veredictos",
            [
                insights(
                    "RECEIVED",
                    f'SELECT SUM({obs.METRIC_ORDERS_RECEIVED}) FROM SCHEMA("{ns}", area, service) '
                    f"WHERE service = {svc}",
                ),
                insights(
                    "VERDICTS",
                    f'SELECT SUM({obs.METRIC_VERDICTS}) FROM SCHEMA("{ns}", area, service, verdict) '
                    f"WHERE service = {svc} GROUP BY verdict",
                ),
            ],
            x=0,
            y=24,
        ),
        panel(
            9,
            "API: latência p99 (ms) e erros 5xx",
            [
                metric("A", "Latency", "p99", "p99", namespace="AWS/ApiGateway", ApiName="ame-$stage", Stage="api"),
                metric("B", "5XXError", "Sum", "5xx", namespace="AWS/ApiGateway", ApiName="ame-$stage", Stage="api"),
            ],
            x=12,
            y=24,
        ),
    ]
    return {
        "title": "AME — parceiros e gargalos ($stage)",
        "uid": "ame-partners",
        "description": "Partner latency p50/p95/p99, error rate, breakers, calls per order and the parked backlog "
        "(docs/runbook.md: alternative route rule). Generated by infra/grafana/build_dashboard.py.",
        "tags": ["ame", "partners"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "CloudWatch",
                    "type": "datasource",
                    "query": "cloudwatch",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "region",
                    "label": "Região",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"queryType": "regions", "refId": "regions"},
                    "definition": "regions()",
                    "current": {"text": "default", "value": "default"},
                    "refresh": 1,
                    "hide": 0,
                },
                {
                    "name": "stage",
                    "label": "Stage",
                    "type": "custom",
                    "query": "dev,prod",
                    "current": {"text": "prod", "value": "prod"},
                    "options": [],
                    "hide": 0,
                },
                {
                    "name": "service",
                    "label": "service (EMF)",
                    "type": "textbox",
                    "query": obs.SERVICE,
                    "current": {"text": obs.SERVICE, "value": obs.SERVICE},
                    "hide": 0,
                },
                {
                    "name": "partner",
                    "label": "Parceiro",
                    "type": "custom",
                    "query": ",".join(obs.PARTNERS),
                    "multi": True,
                    "includeAll": True,
                    "allValue": "*",
                    "current": {"text": "All", "value": "$__all"},
                    "options": [],
                    "hide": 0,
                },
            ]
        },
        "panels": panels,
    }


def rendered() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        if OUT.read_text(encoding="utf-8") != rendered():
            print(f"{OUT} is stale: run python infra/grafana/build_dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(rendered(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
