"""Analytics on MariaDB: full export vs reading the same rows, the hourly incremental run, the named queries
in DuckDB, Parquet bytes per million orders, and GET /v1/insights over a year of roll-ups.

Run: .venv/bin/python bench/bench_analytics.py [--orders 1000000]   (AME_BENCH_MARIADB_URL: admin URL)
Goals: full export <= 2 x the read; incremental run with 10,000 changed orders <= 10 s; each named query
<= 1 s over 1,000,000 orders; insights p95 <= 50 ms over one year of an area's roll-ups.
The orders are generated inside MariaDB (INSERT ... SELECT over its sequence engine), 365 days of them, keys in
creation order as AME's ULIDs are (ame_local/analytics_seed.py says why that matters for the read).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from ame_local.analytics_seed import seed_orders_mariadb_fast
from ame_ops import analytics
from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.db.analytics import SqlAnalyticsStore, create_export_engine, day_windows
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import orders
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.adapters.parquet import parquet_bytes
from chalicelib.services.analytics_export import AnalyticsExport
from chalicelib.services.insights import InsightsQueries

ADMIN_URL = os.environ.get("AME_BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test")
FIRST_DAY = date(2025, 12, 1)
DAYS = 365
CHANGED = 10_000
KEY = b"bench-hmac-key"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _read_all(store: SqlAnalyticsStore, days: list[date]) -> int:
    """The export's own queries, every row fetched into its row object, nothing written."""
    n = 0
    for start, end in day_windows(days):
        for _ in store.order_rows(start, end):
            n += 1
        for _ in store.party_rows(start, end):
            pass
    return n


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--query-runs", type=int, default=3)
    parser.add_argument("--insights-runs", type=int, default=200)
    args = parser.parse_args()
    from migrations.runner import upgrade
    from tests.support import scratch_mariadb

    print(f"bench_analytics: {args.orders:,} orders over {DAYS} days on MariaDB; {_load()}")
    with scratch_mariadb(ADMIN_URL, "ame_bench_analytics") as url, tempfile.TemporaryDirectory() as tmp:
        upgrade(url)
        engine = create_export_engine(url)
        started = time.perf_counter()
        seed_orders_mariadb_fast(engine, args.orders, FIRST_DAY, DAYS)
        print(f"  generated in MariaDB in {time.perf_counter() - started:.1f} s; {_load()}", flush=True)
        with engine.connect() as conn:
            pool = conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar() or 0
            size = conn.exec_driver_sql(
                "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = DATABASE()"
            ).scalar()
        print(
            f"  tables {int(size or 0) / 2**20:,.0f} MiB (data + indexes, InnoDB's estimate) vs buffer pool "
            f"{int(pool) / 2**20:,.0f} MiB",
            flush=True,
        )
        store = SqlAnalyticsStore(engine)
        days = store.all_days()

        _read_all(store, days[:7])  # warm the buffer pool and the connection the same way for both
        started = time.perf_counter()
        read_rows = _read_all(store, days)
        read_s = time.perf_counter() - started
        out = Path(tmp) / "analytics"
        job = AnalyticsExport(store, LocalObjectStore(out), parquet_bytes, lambda: KEY, SystemClock(), lag_seconds=0)
        started = time.perf_counter()
        result = job.run(full=True)
        export_s = time.perf_counter() - started
        ratio = export_s / read_s
        print(
            f"  full export: {export_s:.1f} s for {result.orders:,} orders ({result.files} files); reading the "
            f"same rows: {read_s:.1f} s ({read_rows:,} orders) -> {ratio:.2f}x (goal <= 2x) "
            f"{'ok' if ratio <= 2 else 'MISSED'}; {_load()}"
        )
        fact_bytes = sum(
            p.stat().st_size for t in ("fact_orders", "fact_party_outcomes") for p in (out / t).rglob("*.parquet")
        )
        orders_bytes = sum(p.stat().st_size for p in (out / "fact_orders").rglob("*.parquet"))
        print(
            f"  Parquet per million orders: {orders_bytes / result.orders * 1e6 / 2**20:.1f} MiB fact_orders, "
            f"{fact_bytes / result.orders * 1e6 / 2**20:.1f} MiB with fact_party_outcomes"
        )

        # The hourly run: the 10,000 newest orders changed since the last run (plus nothing else).
        time.sleep(0.01)
        now = datetime.now(UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            newest = [
                k
                for (k,) in conn.execute(
                    sa.select(orders.c.order_key).order_by(orders.c.created_at.desc()).limit(CHANGED)
                )
            ]
            for i in range(0, len(newest), 5000):
                conn.execute(
                    orders.update()
                    .where(orders.c.order_key.in_(newest[i : i + 5000]))
                    .values(updated_at=now, status="QUORUM_MET")
                )
        started = time.perf_counter()
        inc = job.run()
        inc_s = time.perf_counter() - started
        print(
            f"  incremental run, {CHANGED:,} changed orders: {inc_s:.2f} s ({inc.days} days rewritten, "
            f"{inc.orders:,} orders re-read) (goal <= 10 s) {'ok' if inc_s <= 10 else 'MISSED'}; {_load()}"
        )

        conn = analytics.connect(out)
        worst = 0.0
        for name in analytics.query_names():
            times = []
            for _ in range(args.query_runs):
                started = time.perf_counter()
                analytics.run_query(name, conn=conn)
                times.append(time.perf_counter() - started)
            best = min(times)
            worst = max(worst, best)
            print(
                f"  named query {name}: {best * 1000:.0f} ms (best of {args.query_runs}; median "
                f"{statistics.median(times) * 1000:.0f} ms)"
            )
        conn.close()
        print(f"  slowest named query {worst * 1000:.0f} ms (goal <= 1000 ms) {'ok' if worst <= 1 else 'MISSED'}")

        api_engine = create_engine_for(url)  # the route's engine, with the API's own timeouts
        service = InsightsQueries(SqlAnalyticsStore(api_engine), SystemClock())
        last = days[-1]
        params = {
            "area_code": ["CREDITO_PJ"],
            "from": [(last - timedelta(days=364)).isoformat()],
            "to": [last.isoformat()],
        }
        timings = []
        for _ in range(args.insights_runs):
            started = time.perf_counter()
            area, first, to = service.parse(params)
            body = service.answer(area, first, to)
            timings.append(time.perf_counter() - started)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1] * 1000
        print(
            f"  insights (a year, {body['totals']['orders']:,} orders, {len(body['days'])} days): p50 "
            f"{timings[len(timings) // 2] * 1000:.1f} ms, p95 {p95:.1f} ms (goal <= 50 ms) "
            f"{'ok' if p95 <= 50 else 'MISSED'}; {_load()}"
        )
        api_engine.dispose()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
