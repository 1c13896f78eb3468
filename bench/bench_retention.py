"""The purge job on MariaDB: purge rate, order intake latency while purging vs not, table sizes before and after.

Run: nice .venv/bin/python bench/bench_retention.py [--rows 1000000] [--rate 40] [--window 5]   (AME_BENCH_MARIADB_URL: admin URL)
Goal (docs/data-lifecycle.md): p99 of the intake's write while the purge runs <= 1.5 x the same without it.

The expired orders (created in 2020, every one with its verdict, parties, participants, rules, history and
partner calls) are generated inside MariaDB (INSERT ... SELECT over its sequence engine) until the tables hold
about --rows rows. The purge runs with the deployed defaults (1,000 rows per transaction, 50 ms pause,
500 orders per archive object, archive to a local folder). "POST" is the database transaction of
POST /v1/orders (SqlOrderRepository.create_order: order, parties, documents, history, outbox, idempotency key),
sent at a fixed rate from two threads. The machine is shared, so its load drifts: the purge runs in time-boxed
slices (--window seconds, the job's own time box), and windows of POSTs alone alternate with windows of the
same POSTs while a slice runs; p50/p99 of each kind are over all its windows, side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from ame_local.analytics_seed import seed_orders_mariadb_fast
from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.repository import SqlOrderRepository
from chalicelib.adapters.db.retention import SqlRetentionStore
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.services.retention import RetentionJob
from migrations.runner import upgrade
from tests.integration.test_repository import make_draft, make_outbox
from tests.support import scratch_mariadb

ADMIN_URL = os.environ.get("AME_BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test")
TABLES = ("orders", "order_parties", "order_participants", "order_rules", "order_status_history", "order_partner_calls")
ROWS_PER_ORDER = 10.5  # what the fast seed writes per order, on average (measured, printed below)


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _sizes(engine: sa.Engine) -> dict[str, tuple[int, float]]:
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(TABLES))
        out = {}
        for table in TABLES:  # the expired orders only (keys B…), not the intake writes of the bench
            key = "order_key"
            rows = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE {key} LIKE 'B%%'").scalar()
            mb = conn.exec_driver_sql(
                "SELECT (data_length + index_length) / 1048576 FROM information_schema.TABLES "
                "WHERE table_schema = DATABASE() AND table_name = %s",
                (table,),
            ).scalar()
            out[table] = (int(rows), float(mb))
    return out


def _print_sizes(label: str, sizes: dict[str, tuple[int, float]]) -> None:
    rows = sum(r for r, _ in sizes.values())
    mb = sum(m for _, m in sizes.values())
    print(
        f"  {label:<22} {rows:>10,} expired rows, tables {mb:>7.1f} MB  "
        + "  ".join(f"{t}={r:,}" for t, (r, _) in sizes.items())
    )


def _posts(engine: sa.Engine, count: int, rate: float, stop: threading.Event | None = None) -> list[float]:
    """`count` intake writes at `rate` per second over two threads; the latency of each, in ms."""
    repo = SqlOrderRepository(engine)
    latencies: list[float] = []
    lock = threading.Lock()
    interval = 2.0 / rate
    stamp = uuid.uuid4().hex[:6]

    def worker(offset: int) -> None:
        nxt = time.monotonic()
        for i in range(offset, count, 2):
            if stop is not None and stop.is_set():
                return
            now = datetime.now(UTC)
            draft = make_draft(f"P{stamp}{i:08d}", idempotency_key=f"bench-{stamp}-{i}", created_at=now)
            start = time.perf_counter()
            repo.create_order(draft, make_outbox(draft, now))
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="expired rows to generate (orders + children)")
    parser.add_argument("--rate", type=float, default=40.0, help="intake writes per second")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per window (and per purge slice)")
    args = parser.parse_args()
    orders = max(1000, int(args.rows / ROWS_PER_ORDER))
    print(f"bench_retention: {args.rows:,} expired rows requested ({orders:,} orders), {_load()}")
    with scratch_mariadb(ADMIN_URL, "ame_bench_retention") as url, tempfile.TemporaryDirectory() as archive:
        upgrade(url)
        engine = create_engine_for(
            url,
            pool_size=4,
            max_overflow=2,
            connect_args={
                "charset": "utf8mb4",
                "read_timeout": 900,
                "write_timeout": 900,
                "init_command": "SET SESSION time_zone = '+00:00'",
            },
        )
        t = time.perf_counter()
        seed_orders_mariadb_fast(engine, orders, date(2020, 1, 1), 365)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE orders SET status = 'QUORUM_MET' WHERE status NOT IN ('QUORUM_MET', 'NO_QUORUM', 'FAILED')"
            )
            conn.exec_driver_sql(
                "INSERT INTO analytics_watermarks (name, high_water, updated_at) "
                "VALUES ('export_analytics', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            )
        print(f"  generated in {time.perf_counter() - t:.1f} s")
        before = _sizes(engine)
        expired = sum(r for r, _ in before.values())
        print(f"  rows per order: {expired / orders:.2f}")
        _print_sizes("before", before)

        _posts(engine, 100, args.rate)  # warm-up
        store = SqlRetentionStore(engine)
        job = RetentionJob(
            store, store, LocalObjectStore(archive), SystemClock(), RetentionPolicy(), time_box_seconds=args.window
        )
        per_window = max(2, int(args.window * args.rate))
        alone: list[float] = []
        during: list[float] = []
        purged: dict[str, int] = {}
        anonymised = archived = objects = 0
        purge_seconds = 0.0
        slices = 0
        while True:
            alone += _posts(engine, per_window, args.rate)
            outcome: dict = {}

            def purge() -> None:
                start = time.perf_counter()
                outcome["result"] = job.run()
                outcome["seconds"] = time.perf_counter() - start

            purger = threading.Thread(target=purge)
            purger.start()
            stop = threading.Event()
            watcher = threading.Thread(target=lambda: (purger.join(), stop.set()))
            watcher.start()
            during += _posts(engine, per_window * 4, args.rate, stop)  # until the slice ends
            purger.join()
            watcher.join()
            slices += 1
            r = outcome["result"]
            purge_seconds += outcome["seconds"]
            for table, rows in r.purged.items():
                purged[table] = purged.get(table, 0) + rows
            anonymised += sum(r.anonymised.values())
            archived += r.archived_orders
            objects += r.archive_objects
            if r.complete:
                break

        deleted = sum(purged.values())
        with engine.begin() as conn:  # the bench's own intake writes go, so the sizes compare like with like
            for table in ("order_documents", "order_parties", "order_status_history", "outbox", "idempotency_keys"):
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE order_key LIKE 'P%%'")
            conn.exec_driver_sql("DELETE FROM orders WHERE order_key LIKE 'P%%'")
        after = _sizes(engine)
        print(
            f"  purge: {deleted:,} rows deleted + {anonymised:,} anonymised in {purge_seconds:.1f} s "
            f"({slices} slices of <= {args.window:.0f} s) = {deleted / purge_seconds:,.0f} rows/s deleted "
            f"({archived:,} orders, {objects} archive objects, "
            f"{sum(p.stat().st_size for p in Path(archive).rglob('*.gz')) / 1048576:.1f} MB gzip), {_load()}"
        )
        print(f"  {'intake write (ms)':<28} {'p50':>8} {'p99':>8} {'n':>6}")
        for label, values in (("alone", alone), ("while purging", during)):
            print(f"  {label:<28} {_pct(values, 50):>8.1f} {_pct(values, 99):>8.1f} {len(values):>6}")
        ratio = _pct(during, 99) / _pct(alone, 99)
        print(f"  p99 while purging / p99 alone: {ratio:.2f} (goal <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
        _print_sizes("after the purge", after)
        with engine.begin() as conn:
            for table in TABLES:
                conn.exec_driver_sql(f"OPTIMIZE TABLE {table}").all()
        _print_sizes("after OPTIMIZE TABLE", _sizes(engine))
        print(f"  {_load()}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
