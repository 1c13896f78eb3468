"""Analytics rules (pure) and GET /v1/insights over a fake roll-up store, through Chalice's test client."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.analytics import (
    VERDICT_BUCKETS_MS,
    OrderRow,
    PartyRow,
    amount_band,
    bucket_of,
    build_facts,
    estimated_cost_usd,
    insights,
    percentile_from_histogram,
    requester_id,
    rollup,
)
from chalicelib.openapi_insights import INSIGHTS_EXAMPLE, Insights
from chalicelib.services.insights import InsightsQueries
from tests.fakes import FixedClock
from tests.unit.test_api_routes import ENV, api_over_fakes
from tests.unit.test_auth_support import bearer

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 29, 10, 0)


def _order(key: str, status: str, verdict_after_ms: int | None = 1500, **over) -> OrderRow:
    values = dict(
        order_key=key,
        area_code="CREDITO_PJ",
        product_code="CCB_GIRO",
        platform="BANKLINE",
        signature_method="DIGITAL",
        amount=Decimal("250000.00"),
        requester_person_type="PJ",
        requester_document="11222333000181",
        status=status,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=2),
        history_rows=3,
        claims=1,
        parks=0,
        verdict_at=None if verdict_after_ms is None else T0 + timedelta(milliseconds=verdict_after_ms),
        partner_calls=3,
        partner_errors=0,
        partner_latency_ms=300,
        by_partner={"poderes": (1, 0, 100), "pessoas": (1, 0, 100), "cadastro": (1, 0, 100)},
    )
    values.update(over)
    return OrderRow(**values)


def _party(key: str, position: int, met: bool | None, reason: str | None = None, person_type="PJ") -> PartyRow:
    return PartyRow(
        order_key=key,
        position=position,
        role="REQUESTER" if position == 0 else "GUARANTOR",
        person_type=person_type,
        quorum_met=met,
        reason=reason,
        participants=2,
        rules_applicable=2,
        rules_satisfied=1 if met else 0,
        excluded={"MAX_AMOUNT": 1} if met is False else {},
    )


def test_the_cost_of_a_typical_order_follows_docs_cost_md():
    # 1 PJ requester + 1 PF guarantor: 16 transitions and 12 invocations of 0.15 s at 512 MB.
    expected = 16 * 0.000025 + 12 * 0.0000002 + 12 * 0.15 * 0.5 * 0.0000166667
    assert estimated_cost_usd(1, 1, 1) == pytest.approx(expected)
    assert estimated_cost_usd(1, 1, 2) > estimated_cost_usd(1, 1, 1) > estimated_cost_usd(0, 1, 1)


@pytest.mark.parametrize(
    "amount, band",
    [
        ("10000.00", "<=10k"),
        ("10000.01", "10k-100k"),
        ("250000", "100k-1M"),
        ("5000000", "1M-5M"),
        ("5000000.01", ">5M"),
    ],
)
def test_amount_bands_include_their_upper_bound(amount, band):
    assert amount_band(Decimal(amount)) == band


def test_requester_id_is_a_keyed_hmac_that_keeps_distinct_counts_and_hides_the_document():
    a, b = requester_id(b"k1", "11222333000181"), requester_id(b"k1", "52998224725")
    assert a == requester_id(b"k1", "11222333000181") and a != b
    assert requester_id(b"k2", "11222333000181") != a
    assert "11222333000181" not in a and len(a) == 32


def test_fact_rows_take_the_failure_reason_from_the_first_party_without_quorum():
    batch = build_facts(
        [_order("A", "NO_QUORUM"), _order("B", "FAILED", None), _order("C", "PROCESSING", None)],
        [_party("A", 0, True), _party("A", 1, False, "PERSON_NOT_FOUND", "PF")],
        b"k",
    )
    o = batch.orders
    assert o["failure_reason"] == ["PERSON_NOT_FOUND", "TECHNICAL_FAILURE", None]
    assert o["quorum_met"] == [False, None, None]
    assert o["guarantors"] == [1, 0, 0] and o["participants"] == [4, 0, 0]
    assert o["verdict_ms"] == [1500, None, None]
    assert o["poderes_calls"] == [1, 1, 1]
    assert batch.parties["excluded_max_amount"] == [0, 1]
    assert "11222333000181" not in json.dumps({k: [str(v) for v in vs] for k, vs in o.items()})


def test_the_roll_up_table_has_one_column_per_histogram_bucket():
    from chalicelib.adapters.db.schema import VERDICT_BUCKETS, insights_daily

    assert len(VERDICT_BUCKETS_MS) + 1 == VERDICT_BUCKETS
    assert sum(c.name.startswith("verdict_bucket_") for c in insights_daily.columns) == VERDICT_BUCKETS


def test_histogram_percentiles_fall_inside_the_right_bucket():
    counts = [0] * (len(VERDICT_BUCKETS_MS) + 1)
    for ms in [100] * 50 + [1500] * 45 + [40_000] * 5:
        counts[bucket_of(ms)] += 1
    assert 0 < percentile_from_histogram(counts, 0.5) <= 250
    assert 1000 < percentile_from_histogram(counts, 0.95) <= 2000
    assert percentile_from_histogram([0] * len(counts), 0.5) is None


def test_insights_answer_fills_every_day_and_matches_the_openapi_model():
    batch = build_facts(
        [_order("A", "QUORUM_MET"), _order("B", "NO_QUORUM")],
        [_party("A", 0, True), _party("B", 0, False, "NO_RULE_SATISFIED")],
        b"k",
    )
    daily, reasons = rollup(batch)
    rows = [
        {"area_code": k[0], "day": k[1], "platform": k[2], "signature_method": k[3], "product_code": k[4], **v}
        for k, v in daily.items()
    ]
    reason_rows = [{"reason": r, "parties": n} for (_, _, r), n in reasons.items()]

    body = insights(
        "CREDITO_PJ",
        date(2026, 11, 28),
        date(2026, 11, 29),
        rows,
        rows,
        reason_rows,
        datetime(2026, 11, 29, 11, tzinfo=UTC),
    )

    Insights.model_validate(body)
    Insights.model_validate(INSIGHTS_EXAMPLE)
    assert [d["day"] for d in body["days"]] == ["2026-11-28", "2026-11-29"]
    assert body["totals"]["quorum_rate"] == 0.5 and body["days"][1]["orders"] == 2
    assert body["no_quorum_reasons"] == [
        {"reason": "NO_RULE_SATISFIED", "parties": 1, "description": "Nenhum agrupamento pode ser atendido"}
    ]
    assert body["partners"] == {"calls": 6, "errors": 0, "error_rate": 0.0, "latency_ms_avg": 100.0}
    assert body["refreshed_through"] == "2026-11-29T11:00:00Z"


# -- the route -------------------------------------------------------------------------------------------


class FakeRollup:
    def __init__(self, daily, reasons):
        self.daily, self.reasons, self.asked = daily, reasons, []

    def rollup_rows(self, area_code, first, last):
        self.asked.append((area_code, first, last))
        rows = [r for r in self.daily if r["area_code"] == area_code and first <= r["day"] <= last]
        return rows, rows, self.reasons

    def watermark(self, name):
        return None


@pytest.fixture()
def insights_api():
    row = {
        "area_code": "CREDITO_PJ",
        "day": date(2026, 11, 29),
        "platform": "BANKLINE",
        "signature_method": "DIGITAL",
        "product_code": "CCB_GIRO",
        "orders": 4,
        "quorum_met": 3,
        "no_quorum": 1,
        "failed": 0,
        "in_progress": 0,
        "verdict_histogram": [0, 0, 0, 4] + [0] * 10,
        "partner_calls": 12,
        "partner_errors": 1,
        "partner_latency_ms": 1200,
    }
    with api_over_fakes(ENV) as (client, c):
        store = FakeRollup([row], [{"reason": "ALL_RESTRICTED", "parties": 1}])
        c.insights = InsightsQueries(store, FixedClock(datetime(2026, 11, 30, 9, tzinfo=UTC)))
        yield client, store


def test_insights_answers_the_callers_area_over_the_range(insights_api):
    client, store = insights_api
    response = client.http.get("/v1/insights?area_code=CREDITO_PJ&from=2026-11-29&to=2026-11-30", headers=bearer())

    assert response.status_code == 200
    body = json.loads(response.body)
    Insights.model_validate(body)
    assert body["totals"]["orders"] == 4 and len(body["days"]) == 2
    assert body["time_to_verdict_ms"]["count"] == 4 and 1000 < body["time_to_verdict_ms"]["p50"] <= 2000
    assert store.asked == [("CREDITO_PJ", date(2026, 11, 29), date(2026, 11, 30))]


def test_insights_defaults_to_the_last_30_days(insights_api):
    client, store = insights_api
    assert client.http.get("/v1/insights?area_code=CREDITO_PJ", headers=bearer()).status_code == 200
    assert store.asked == [("CREDITO_PJ", date(2026, 11, 1), date(2026, 11, 30))]


def test_insights_of_an_area_the_caller_does_not_serve_is_403_and_reads_nothing(insights_api):
    client, store = insights_api
    response = client.http.get("/v1/insights?area_code=CAMBIO_PF", headers=bearer(areas=["CREDITO_PJ"]))
    assert response.status_code == 403
    assert json.loads(response.body)["code"] == "AREA_NOT_ALLOWED"
    assert store.asked == []


@pytest.mark.parametrize(
    "query, field, code",
    [
        ("", "area_code", "REQUIRED"),
        ("area_code=CREDITO_PJ&from=29/11/2026", "from", "INVALID_FORMAT"),
        ("area_code=CREDITO_PJ&from=2026-11-30&to=2026-11-01", "from", "INVALID_RANGE"),
        ("area_code=CREDITO_PJ&from=2024-01-01&to=2026-11-01", "from", "RANGE_TOO_LONG"),
    ],
)
def test_bad_insights_parameters_are_422_naming_the_field(insights_api, query, field, code):
    client, _ = insights_api
    response = client.http.get(f"/v1/insights?{query}", headers=bearer())
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in json.loads(response.body)["errors"]} == {(field, code)}


def test_insights_needs_a_token_with_the_read_scope(insights_api):
    client, _ = insights_api
    assert client.http.get("/v1/insights?area_code=CREDITO_PJ").status_code == 401
    assert (
        client.http.get("/v1/insights?area_code=CREDITO_PJ", headers=bearer(scopes=["ame:orders:write"])).status_code
        == 403
    )


# -- pyarrow stays out of the API -------------------------------------------------------------------------


def test_pyarrow_duckdb_and_sqlglot_are_not_runtime_dependencies():
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    assert not [p for p in ("pyarrow", "duckdb", "sqlglot", "pandas") if p in runtime]


def test_only_the_export_path_imports_pyarrow():
    code = (
        "import sys, json\n"
        "import app\n"
        "from chalicelib.bootstrap import Container\n"
        "from chalicelib.services import analytics_export, insights\n"
        "from chalicelib.adapters.db import analytics\n"
        "from chalicelib.entrypoints import api_views, schedules\n"
        "print(json.dumps('pyarrow' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "false"
    importing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "chalicelib").rglob("*.py")
        if "import pyarrow" in p.read_text(encoding="utf-8")
    ]
    assert importing == ["chalicelib/adapters/parquet.py"]


# -- partner calls per order ------------------------------------------------------------------------------


def test_partner_calls_of_an_invocation_are_tallied_per_order_and_handed_over_once():
    from chalicelib import observability as obs

    got = []
    obs.bind_order("ORDER1")
    try:
        with obs.partner_call("poderes"):
            pass
        with pytest.raises(RuntimeError):
            with obs.partner_call("pessoas"):
                raise RuntimeError("boom")
        with obs.partner_call("pessoas"):
            pass
        assert obs.flush_partner_calls(lambda key, tally: got.append((key, tally)))
        assert not obs.flush_partner_calls(lambda key, tally: got.append((key, tally)))
    finally:
        obs.clear_context()

    ((key, tally),) = got
    assert key == "ORDER1"
    assert {p: (calls, errors) for p, (calls, errors, _) in tally.items()} == {"poderes": (1, 0), "pessoas": (2, 1)}


def test_partner_calls_without_an_order_are_not_tallied_and_a_failing_sink_is_swallowed():
    from chalicelib import observability as obs

    with obs.partner_call("parametrizador"):
        pass
    assert not obs.flush_partner_calls(lambda key, tally: None)
    obs.bind_order("ORDER2")
    try:
        with obs.partner_call("poderes"):
            pass

        def broken(key, tally):
            raise OSError("database down")

        assert obs.flush_partner_calls(broken) is False
    finally:
        obs.clear_context()
