"""The local /metrics: every EMF metric reaches observability's observers, and the Prometheus view of them."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ame_local.metrics import PrometheusMetrics
from chalicelib import observability as obs


@pytest.fixture()
def metrics():
    exporter = PrometheusMetrics()
    remove = obs.add_metric_observer(exporter.observe)
    try:
        yield exporter
    finally:
        remove()
        obs.clear_context()


def samples(exporter: PrometheusMetrics) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(exporter.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_observers_get_every_metric_outside_lambda_and_one_that_raises_breaks_nothing(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    seen = []

    def broken(*args):
        raise RuntimeError("observer bug")

    removers = [obs.add_metric_observer(broken), obs.add_metric_observer(lambda *a: seen.append(a))]
    try:
        assert obs.record_verdict("NO_QUORUM", "CREDITO_PJ") is False  # no EMF outside Lambda
    finally:
        for remove in removers:
            remove()
    assert seen == [("Verdicts", 1, "Count", {"service": "ame", "area": "CREDITO_PJ", "verdict": "NO_QUORUM"})]
    obs.record_verdict("NO_QUORUM", "CREDITO_PJ")
    assert len(seen) == 1  # removed


def test_partner_calls_become_latency_histograms_errors_and_calls_per_order(metrics):
    obs.bind_order("01JDQ7Z8K3M4N5P6Q7R8S9T0VW", "CREDITO_PJ")
    obs.record_partner_call("poderes", 120.0)
    obs.record_partner_call("poderes", 80.0, error_kind="transient")
    obs.record_partner_call("pessoas", 40.0)
    obs.record_breaker_state("poderes", True)
    obs.record_verdict("QUORUM_MET", "CREDITO_PJ")
    obs.clear_context()
    obs.record_partner_call("parametrizador", 10.0)  # no order bound: latency only

    found = samples(metrics)
    assert found[("ame_partner_latency_seconds_count", (("partner", "poderes"),))] == 2
    assert found[("ame_partner_latency_seconds_sum", (("partner", "poderes"),))] == pytest.approx(0.2)
    assert found[("ame_partner_latency_seconds_bucket", (("le", "0.1"), ("partner", "poderes")))] == 1
    assert found[("ame_partner_errors_total", (("kind", "transient"), ("partner", "poderes")))] == 1
    assert found[("ame_partner_breaker_open", (("partner", "poderes"),))] == 1
    assert found[("ame_partner_calls_per_order_sum", (("partner", "poderes"),))] == 2
    assert found[("ame_partner_calls_per_order_sum", (("partner", "pessoas"),))] == 1
    assert ("ame_partner_calls_per_order_count", (("partner", "parametrizador"),)) not in found
    assert found[("ame_verdicts_total", (("area", "CREDITO_PJ"), ("verdict", "QUORUM_MET")))] == 1


def test_metrics_answer_get_only_in_prometheus_text(metrics):
    obs.record_parked_backlog(3, 120)
    status, headers, body = metrics.answer("GET", "/metrics", "", {}, b"")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    assert b"ame_parked_orders 3.0" in body and b"ame_oldest_parked_order_age_seconds 120.0" in body
    assert metrics.answer("POST", "/metrics", "", {}, b"")[0] == 405
