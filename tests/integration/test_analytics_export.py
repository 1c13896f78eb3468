"""Analytics export on SQLite and MariaDB: partitions, one row per order, re-runs, crashes, roll-up, no personal data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from stdnum.br import cnpj, cpf

from ame_local.analytics_seed import seed_orders
from chalicelib.adapters.db.analytics import SqlAnalyticsStore
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import insights_daily, insights_daily_reasons, order_parties, orders
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.adapters.parquet import parquet_bytes
from chalicelib.domain.analytics import DIMENSIONS, FACTS
from chalicelib.services.analytics_export import WATERMARK, AnalyticsExport, partition_key
from migrations.runner import upgrade
from tests.fakes import FixedClock

FIRST_DAY = date(2026, 10, 1)
DAYS = 20
ORDERS = 600
KEY = b"test-hmac-key"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def seeded_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('an') / 'ame.sqlite'}"
        upgrade(url)
        _seed(url)
        yield url
        return
    from tests.conftest import MARIADB_ADMIN_URL, require_service
    from tests.support import scratch_mariadb

    require_service("MariaDB", "127.0.0.1", 3306)
    with scratch_mariadb(MARIADB_ADMIN_URL, "ame_analytics") as url:
        upgrade(url)
        _seed(url)
        yield url


def _seed(url: str) -> None:
    engine = create_engine_for(url)
    try:
        seed_orders(engine, ORDERS, FIRST_DAY, DAYS, seed=7)
    finally:
        engine.dispose()


@pytest.fixture()
def engine(seeded_url):
    engine = create_engine_for(seeded_url)
    yield engine
    engine.dispose()


def _job(engine, root: Path, clock=None, write=parquet_bytes) -> AnalyticsExport:
    return AnalyticsExport(
        SqlAnalyticsStore(engine), LocalObjectStore(root), write, lambda: KEY, clock or FixedClock(NOW), lag_seconds=0
    )


def _read_all(root: Path, table: str):
    files = sorted((root / table).glob("dt=*/*.parquet"))
    return [pq.read_table(f) for f in files], files


def test_full_export_writes_one_partition_per_creation_day_with_every_order_once(engine, tmp_path):
    result = _job(engine, tmp_path).run(full=True)

    tables, files = _read_all(tmp_path, "fact_orders")
    keys = [k for t in tables for k in t.column("order_key").to_pylist()]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar()
        parties = conn.execute(sa.select(sa.func.count()).select_from(order_parties)).scalar()
    assert result.orders == stored == len(keys) == len(set(keys))
    assert len(files) == result.days <= DAYS
    assert all(f.parent.name.startswith("dt=2026-10-") for f in files)
    assert sum(t.num_rows for t in _read_all(tmp_path, "fact_party_outcomes")[0]) == parties
    for table in DIMENSIONS:
        assert (tmp_path / table / f"{table}.parquet").exists(), table


def test_every_row_sits_in_the_partition_of_its_creation_day(engine, tmp_path):
    _job(engine, tmp_path).run(full=True)

    for table, path in zip(*_read_all(tmp_path, "fact_orders")):
        day = date.fromisoformat(path.parent.name[3:])
        assert set(table.column("created_date").to_pylist()) == {day}


def test_files_are_snappy_parquet_with_the_schema_of_the_column_lists(engine, tmp_path):
    _job(engine, tmp_path).run(full=True)

    for table, columns in FACTS.items():
        path = next((tmp_path / table).glob("dt=*/*.parquet"))
        meta = pq.ParquetFile(path).metadata
        assert meta.row_group(0).column(0).compression == "SNAPPY"
        assert pq.read_schema(path).names == [c for c, _ in columns]


def test_running_the_same_window_twice_gives_byte_identical_files(engine, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    _job(engine, first).run(full=True)
    _job(engine, second).run(full=True)
    _job(engine, second).run(full=True)

    names = sorted(str(p.relative_to(first)) for p in first.rglob("*.parquet"))
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*.parquet"))
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


def test_a_late_change_to_an_old_order_rewrites_only_that_day_without_duplicating_it(engine, tmp_path):
    job = _job(engine, tmp_path)
    job.run(full=True)
    with engine.connect() as conn:
        key, created = conn.execute(
            sa.select(orders.c.order_key, orders.c.created_at)
            .where(orders.c.status == "PROCESSING")
            .order_by(orders.c.order_key)
        ).first()
        old_status = conn.execute(sa.select(orders.c.status).where(orders.c.order_key == key)).scalar()
    day = created.date() if isinstance(created, datetime) else date.fromisoformat(str(created)[:10])
    other = next(p for p in (tmp_path / "fact_orders").glob("dt=*/*.parquet") if p.parent.name != f"dt={day}")
    before_other = other.stat().st_mtime_ns
    later = NOW + timedelta(hours=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                orders.update()
                .where(orders.c.order_key == key)
                .values(status="QUORUM_MET", updated_at=later.replace(tzinfo=None))
            )

        result = _job(engine, tmp_path, FixedClock(later + timedelta(seconds=1))).run()

        table = pq.read_table(tmp_path / partition_key("fact_orders", day))
        rows = [r for r in table.to_pylist() if r["order_key"] == key]
        assert result.days == 1
        assert len(rows) == 1 and rows[0]["status"] == "QUORUM_MET"
        assert other.stat().st_mtime_ns == before_other
    finally:
        with engine.begin() as conn:
            conn.execute(orders.update().where(orders.c.order_key == key).values(status=old_status))


def test_a_crash_mid_run_leaves_the_previous_files_readable_and_the_watermark_where_it_was(engine, tmp_path):
    _job(engine, tmp_path).run(full=True)
    store = SqlAnalyticsStore(engine)
    mark = store.watermark(WATERMARK)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    calls = []

    def crashing(columns, data):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return parquet_bytes(columns, data)

    with pytest.raises(RuntimeError):
        _job(engine, tmp_path, FixedClock(NOW + timedelta(days=1)), write=crashing).run(full=True)

    assert store.watermark(WATERMARK) == mark
    for path in before:
        pq.read_table(path)  # still a whole Parquet file
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_no_exported_file_holds_anything_shaped_like_personal_data(engine, tmp_path):
    _job(engine, tmp_path).run(full=True)
    with engine.connect() as conn:
        documents = {d for (d,) in conn.execute(sa.select(order_parties.c.document))}
    edge_l, edge_r = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
    cpf_shape = re.compile(edge_l + r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}" + edge_r)
    cnpj_shape = re.compile(edge_l + r"[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}" + edge_r)
    email = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    phone = re.compile(r"\+?55\s?\(?\d{2}\)?\s?9?\d{4}-?\d{4}")

    def personal(text: str) -> bool:
        if text in documents or email.search(text) or phone.search(text):
            return True
        return any(cpf.is_valid(m.group()) for m in cpf_shape.finditer(text)) or any(
            cnpj.is_valid(m.group()) for m in cnpj_shape.finditer(text)
        )

    files = list(tmp_path.rglob("*.parquet"))
    assert len(files) > len(DIMENSIONS)
    found = []
    for path in files:
        for column in pq.read_table(path).columns:
            for value in column.to_pylist():
                text = str(value)
                if personal(text):
                    found.append((path.name, text))
        raw = path.read_bytes().decode("latin-1")
        found.extend((path.name, d) for d in documents if d in raw)
    assert found == []
    # and the scan does see a document when one is there
    assert personal("x 529.982.247-25 y") and personal("12ABC34501DE35") and personal("a@b.com.br")
    assert personal("+55 11 99999-0000") and not personal("01KB2Q4V7Y3ZJ8M5N6P9R0S1T2")


def test_the_roll_up_counts_what_the_orders_table_holds(engine, tmp_path):
    _job(engine, tmp_path).run(full=True)
    with engine.connect() as conn:
        by_status = dict(conn.execute(sa.select(orders.c.status, sa.func.count()).group_by(orders.c.status)).all())
        rolled = conn.execute(
            sa.select(
                sa.func.sum(insights_daily.c.orders),
                sa.func.sum(insights_daily.c.quorum_met),
                sa.func.sum(insights_daily.c.no_quorum),
                sa.func.sum(insights_daily.c.failed),
            )
        ).one()
        failing = conn.execute(
            sa.select(sa.func.count())
            .select_from(order_parties)
            .where(order_parties.c.quorum_met.is_(False), order_parties.c.reason.is_not(None))
        ).scalar()
        reasons = conn.execute(
            sa.select(sa.func.sum(insights_daily_reasons.c.parties)).where(
                insights_daily_reasons.c.reason != "TECHNICAL_FAILURE"
            )
        ).scalar()
    assert tuple(int(v) for v in rolled) == (
        sum(by_status.values()),
        by_status.get("QUORUM_MET", 0),
        by_status.get("NO_QUORUM", 0),
        by_status.get("FAILED", 0),
    )
    assert int(reasons) == failing


def test_insights_over_the_database_roll_up_add_up_to_the_areas_orders(engine, tmp_path):
    from chalicelib.services.insights import InsightsQueries

    _job(engine, tmp_path).run(full=True)
    with engine.connect() as conn:
        by_status = dict(
            conn.execute(
                sa.select(orders.c.status, sa.func.count())
                .where(orders.c.area_code == "CREDITO_PJ")
                .group_by(orders.c.status)
            ).all()
        )
        by_platform = conn.execute(
            sa.select(orders.c.platform, sa.func.count())
            .where(orders.c.area_code == "CREDITO_PJ", orders.c.status == "QUORUM_MET")
            .group_by(orders.c.platform)
        ).all()

    body = InsightsQueries(SqlAnalyticsStore(engine), FixedClock(NOW)).answer(
        "CREDITO_PJ", FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)
    )

    assert body["totals"]["orders"] == sum(by_status.values())
    assert body["totals"]["quorum_met"] == by_status.get("QUORUM_MET", 0)
    assert sum(d["orders"] for d in body["days"]) == sum(by_status.values()) and len(body["days"]) == DAYS
    assert {g["code"]: g["quorum_met"] for g in body["quorum_rate"]["by_platform"]} == dict(by_platform)
    decided = by_status.get("QUORUM_MET", 0) + by_status.get("NO_QUORUM", 0) + by_status.get("FAILED", 0)
    assert body["time_to_verdict_ms"]["count"] == decided and body["time_to_verdict_ms"]["p95"] is not None
    assert body["refreshed_through"] == NOW.isoformat().replace("+00:00", "Z")


def test_partner_call_tallies_add_up_per_order_and_partner(engine):
    from chalicelib.adapters.db.schema import order_partner_calls as pc

    store = SqlAnalyticsStore(engine)
    store.add_partner_calls("TALLY0000000001", {"poderes": (1, 0, 120), "pessoas": (2, 1, 300)})
    store.add_partner_calls("TALLY0000000001", {"poderes": (2, 1, 80)})
    with engine.connect() as conn:
        rows = {
            r.partner: (r.calls, r.errors, r.latency_ms)
            for r in conn.execute(sa.select(pc).where(pc.c.order_key == "TALLY0000000001"))
        }
    assert rows == {"poderes": (3, 1, 200), "pessoas": (2, 1, 300)}


def test_a_run_sooner_than_the_minimum_interval_does_nothing(engine, tmp_path):
    def job(at):
        return AnalyticsExport(
            SqlAnalyticsStore(engine),
            LocalObjectStore(tmp_path),
            parquet_bytes,
            lambda: KEY,
            FixedClock(at),
            lag_seconds=0,
            min_interval_seconds=60,
        )

    job(NOW).run(full=True)

    assert job(NOW + timedelta(seconds=30)).run().files == 0
    assert job(NOW + timedelta(seconds=61)).run().files > 0
