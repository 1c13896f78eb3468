"""infra/grafana/ame-partners.json: valid, current, templated, and only on metric names the code emits."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from chalicelib import observability as obs
from infra.grafana import build_dashboard

DASHBOARD = Path(build_dashboard.__file__).with_name("ame-partners.json")
EMITTED = {value for name, value in vars(obs).items() if name.startswith("METRIC_")}


def _targets(dashboard: dict) -> list[dict]:
    return [target for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_committed_dashboard_is_valid_json_and_what_the_builder_writes():
    text = DASHBOARD.read_text(encoding="utf-8")
    assert json.loads(text)["uid"] == "ame-partners"
    assert text == build_dashboard.rendered(), "run python infra/grafana/build_dashboard.py"
    assert build_dashboard.main(["--check"]) == 0


def test_every_ame_metric_it_reads_is_one_the_code_emits():
    source = inspect.getsource(obs)
    for name in EMITTED:  # each name in observability is really emitted by one of its record_* functions
        constant = next(k for k, v in vars(obs).items() if k.startswith("METRIC_") and v == name)
        assert re.search(rf"emit_metric\(\s*(?:{constant}|[^)]*\b{constant}\b)", source), constant
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    read: set[str] = set()
    for target in _targets(dashboard):
        if target.get("namespace") == obs.NAMESPACE:
            read.add(target["metricName"])
            assert target["dimensions"]["service"] == "$service"
        for match in re.finditer(r"SELECT \w+\((\w+)\) FROM SCHEMA\(\"(\w+)\"", target.get("sqlExpression", "")):
            assert match.group(2) == obs.NAMESPACE
            read.add(match.group(1))
    assert read <= EMITTED, read - EMITTED
    assert {
        obs.METRIC_PARTNER_LATENCY,
        obs.METRIC_PARTNER_ERRORS,
        obs.METRIC_BREAKER_OPEN,
        obs.METRIC_VERDICTS,
        obs.METRIC_PARKED_ORDERS,
    } <= read


def test_it_is_templated_on_data_source_region_and_stage_and_shows_each_partner_figure():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "cloudwatch"
    assert variables["region"]["query"]["queryType"] == "regions"
    assert {"dev", "prod"} <= set(variables["stage"]["query"].split(","))
    assert set(variables["partner"]["query"].split(",")) == set(obs.PARTNERS)
    for target in _targets(dashboard):
        if target["datasource"]["type"] == "cloudwatch":
            assert target["datasource"]["uid"] == "${datasource}" and target["region"] == "$region"
    latency = [t["statistic"] for t in _targets(dashboard) if t.get("metricName") == obs.METRIC_PARTNER_LATENCY]
    assert {"p50", "p95", "p99"} <= set(latency)
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for words in ("taxa de erro", "disjuntor", "chamadas por ordem", "estacionadas"):
        assert words in titles
    assert any("ame-$stage" in json.dumps(t.get("dimensions", {})) for t in _targets(dashboard))
