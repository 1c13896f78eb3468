"""Named queries: one SQL for Athena and DuckDB (sqlglot parses both), answers equal to the database's own figures,
and Glue columns equal to the Parquet schema the exporter writes."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
import sqlglot

from ame_local.analytics_seed import seed_orders
from ame_ops import analytics
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import (
    order_participants,
    order_parties,
    order_partner_calls,
    order_rules,
    order_status_history,
    orders,
)
from chalicelib.adapters.parquet import read_schema
from chalicelib.domain.analytics import DIMENSIONS, FACTS, estimated_cost_usd
from infra import analytics_template
from migrations.runner import upgrade

NOW = datetime(2026, 12, 1, tzinfo=UTC)
GLUE_OF_ARROW = {
    pa.string(): "string",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.timestamp("ms"): "timestamp",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("queries")
    url = f"sqlite:///{root / 'ame.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    seed_orders(engine, 1500, date(2026, 9, 20), 45, seed=11)
    analytics.export(url, root / "out", full=True, hmac_key=b"k")
    conn = analytics.connect(root / "out")
    yield engine, root / "out", conn
    conn.close()
    engine.dispose()


def _rows(engine, table):
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(sa.select(table))]


def _query(conn, name):
    columns, rows = analytics.run_query(name, conn=conn)
    return [dict(zip(columns, r)) for r in rows]


def test_there_is_one_named_query_per_owner_question_and_each_parses_as_trino_and_duckdb():
    names = analytics.query_names()
    assert {"success_failure_rates", "partner_bottlenecks", "area_adoption", "quorum_cost"} <= set(names)
    for name in names:
        sql = analytics.query_sql(name)
        for dialect in ("trino", "duckdb"):
            assert sqlglot.parse_one(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE), (name, dialect)


def test_queries_avoid_the_functions_that_differ_between_athena_and_duckdb():
    # integer division is cast; no percentile, date formatting or printf-style functions.
    banned = (
        "approx_percentile",
        "quantile_cont",
        "percentile_cont",
        "date_format",
        "date_parse",
        "strftime",
        "strptime",
        "format(",
        "from_iso8601",
    )
    for name in analytics.query_names():
        sql = analytics.query_sql(name).lower()
        assert not [b for b in banned if b in sql], name
        assert _integer_divisions(sql) == [], name
    assert _integer_divisions("SELECT COUNT(*) / SUM(x) FROM t") == ["COUNT(*) / SUM(x)"]


def _integer_divisions(sql: str) -> list[str]:
    """Divisions with no CAST on either side: 5/2 is 2 in Trino and 2.5 in DuckDB."""
    return [
        d.sql()
        for d in sqlglot.parse_one(sql, read="trino").find_all(sqlglot.exp.Div)
        if not (d.this.find(sqlglot.exp.Cast) or d.expression.find(sqlglot.exp.Cast))
    ]


def test_success_and_failure_rates_equal_the_orders_table(exported):
    engine, _, conn = exported
    expected: dict[tuple, Counter] = defaultdict(Counter)
    for o in _rows(engine, orders):
        expected[(o["area_code"], o["platform"], o["signature_method"])][o["status"]] += 1
    answer = _query(conn, "success_failure_rates")

    assert len(answer) == len(expected)
    for row in answer:
        c = expected[(row["area_code"], row["platform"], row["signature_method"])]
        decided = c["QUORUM_MET"] + c["NO_QUORUM"] + c["FAILED"]
        assert (row["orders"], row["quorum_met"], row["no_quorum"], row["failed"]) == (
            sum(c.values()),
            c["QUORUM_MET"],
            c["NO_QUORUM"],
            c["FAILED"],
        )
        assert row["success_rate"] == pytest.approx(round(c["QUORUM_MET"] / decided, 4))


def test_partner_bottlenecks_equal_the_partner_call_counters(exported):
    engine, _, conn = exported
    area_of = {o["order_key"]: o["area_code"] for o in _rows(engine, orders)}
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in _rows(engine, order_partner_calls):
        e = expected[(area_of[c["order_key"]], c["partner"])]
        e[0] += c["calls"]
        e[1] += c["errors"]
        e[2] += c["latency_ms"]
    answer = {(r["area_code"], r["partner"]): r for r in _query(conn, "partner_bottlenecks")}

    for key, (calls, errors, latency) in expected.items():
        row = answer[key]
        assert (row["calls"], row["errors"]) == (calls, errors)
        assert row["avg_latency_ms"] == pytest.approx(round(latency / calls, 1))


def test_area_adoption_counts_orders_and_distinct_requesters_per_month(exported):
    engine, _, conn = exported
    expected: dict[tuple, list] = defaultdict(lambda: [0, set()])
    for o in _rows(engine, orders):
        created = o["created_at"] if isinstance(o["created_at"], datetime) else datetime.fromisoformat(o["created_at"])
        e = expected[(o["area_code"], created.strftime("%Y-%m"))]
        e[0] += 1
        e[1].add(o["requester_document"])
    answer = _query(conn, "area_adoption")

    assert {(r["area_code"], r["month"]): (r["orders"], r["requesters"]) for r in answer} == {
        k: (n, len(docs)) for k, (n, docs) in expected.items()
    }
    assert {r["cost_center"] for r in answer} == {"4471", "5120"}


def test_quorum_cost_sums_the_cost_model_over_each_orders_parties(exported):
    engine, _, conn = exported
    parties: dict[str, list] = defaultdict(list)
    for p in _rows(engine, order_parties):
        parties[p["order_key"]].append(p)
    claims = Counter(
        h["order_key"]
        for h in _rows(engine, order_status_history)
        if h["status"] == "PROCESSING" and h["detail"] == "em processamento"
    )
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    for o in _rows(engine, orders):
        its = parties[o["order_key"]]
        pj = sum(1 for p in its if p["person_type"] == "PJ")
        key = (
            o["area_code"],
            o["product_code"],
            o["requester_person_type"],
            sum(1 for p in its if p["role"] == "GUARANTOR"),
        )
        expected[key][0] += 1
        expected[key][1] += estimated_cost_usd(pj, len(its) - pj, claims[o["order_key"]])
    answer = _query(conn, "quorum_cost")

    assert len(answer) == len(expected)
    for row in answer:
        n, cost = expected[(row["area_code"], row["product_code"], row["requester_type"], row["guarantors"])]
        assert row["orders"] == n
        assert row["total_cost_usd"] == pytest.approx(cost, abs=1e-6)
    assert [r["total_cost_usd"] for r in answer] == sorted((r["total_cost_usd"] for r in answer), reverse=True)


def test_failing_rules_count_parties_without_quorum_and_people_excluded(exported):
    engine, _, conn = exported
    area_of = {o["order_key"]: o["area_code"] for o in _rows(engine, orders)}
    expected: Counter = Counter()
    max_amount: Counter = Counter()
    failing = set()
    for p in _rows(engine, order_parties):
        if p["quorum_met"] is False or p["quorum_met"] == 0:
            key = (area_of[p["order_key"]], p["role"], p["person_type"], p["reason"])
            expected[key] += 1
            failing.add((p["order_key"], p["position"], key))
    by_party = {(k, pos): key for k, pos, key in failing}
    for person in _rows(engine, order_participants):
        key = by_party.get((person["order_key"], person["party_position"]))
        if key and "MAX_AMOUNT" in json.loads(person["reasons"]):
            max_amount[key] += 1
    answer = _query(conn, "failing_rules")

    assert {(r["area_code"], r["role"], r["person_type"], r["reason_code"]): r["parties"] for r in answer} == dict(
        expected
    )
    assert {
        (r["area_code"], r["role"], r["person_type"], r["reason_code"]): r["excluded_max_amount"]
        for r in answer
        if r["excluded_max_amount"]
    } == dict(max_amount)
    assert _rows(engine, order_rules)  # the generated data has rules to count


def test_glue_columns_are_exactly_the_parquet_schema_the_exporter_writes(exported):
    _, out, _ = exported
    resources = analytics_template.resources("bucket", "DocumentBucket")
    for table in [*FACTS, *DIMENSIONS]:
        glue = resources[analytics_template.logical_table_id(table)]["Properties"]["TableInput"]
        path = next(Path(out, table).rglob("*.parquet"))
        schema = read_schema(path.read_bytes())
        assert [{"Name": f.name, "Type": GLUE_OF_ARROW[f.type]} for f in schema] == glue["StorageDescriptor"][
            "Columns"
        ], table
        if table in FACTS:
            assert glue["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
            assert glue["Parameters"]["projection.enabled"] == "true"


def test_dt_is_a_string_in_duckdb_as_in_glue(exported):
    _, _, conn = exported
    assert conn.execute("SELECT typeof(dt) FROM fact_orders LIMIT 1").fetchone()[0] == "VARCHAR"


def test_bin_ame_analytics_export_and_query_work_from_the_command_line(tmp_path, monkeypatch):
    import io

    from ame_ops.__main__ import main

    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    seed_orders(engine, 50, date(2026, 11, 1), 3, seed=5)
    engine.dispose()
    monkeypatch.setenv("AME_DATABASE_URL", url)
    monkeypatch.setattr(analytics, "LOCAL_KEY_FILE", tmp_path / "key")
    out = io.StringIO()
    assert main(["analytics", "export", "--output", str(tmp_path / "files")], out) == 0
    assert json.loads(out.getvalue())["orders"] == 50
    out = io.StringIO()
    assert main(["analytics", "query", "success_failure_rates", "--input", str(tmp_path / "files")], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:4] == ["area_code", "platform", "signature_method", "orders"]
    assert sum(int(line.split()[3]) for line in lines[1:-1]) == 50
    assert main(["analytics", "query", "no_such_query"], io.StringIO()) == 2
