"""Every query the purge job, its plan and the privacy report run is served by an index on MariaDB: EXPLAIN
shows no full scan (type ALL) of a data table. The queries are the ones a real run sends, captured."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ame_local.analytics_seed import seed_orders, seed_orders_mariadb_fast
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.retention import SqlRetentionStore
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.services.retention import RetentionJob
from migrations.runner import upgrade
from tests.fakes import FixedClock

pytestmark = pytest.mark.mariadb

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# The job's own bookkeeping: a handful of rows, read by primary key or state.
BOOKKEEPING = {
    "job_leases",
    "retention_cursors",
    "retention_archives",
    "retention_archived_orders",
    "analytics_watermarks",
}


@pytest.fixture(scope="module")
def loaded():
    from tests.conftest import MARIADB_ADMIN_URL, require_service
    from tests.support import scratch_mariadb

    require_service("MariaDB", "127.0.0.1", 3306)
    with scratch_mariadb(MARIADB_ADMIN_URL, "ame_retention_plans") as url:
        upgrade(url)
        engine = create_engine_for(url)
        try:
            # Steady state: orders over five and a half years, the short-lived rows only for recent orders
            # (what daily runs leave), so each purge range is a small part of its table, as in production.
            seed_orders_mariadb_fast(engine, 20_000, date(2021, 6, 1), 2000)
            seed_orders(engine, 300, date(2026, 10, 1), 30, seed=5, prefix="RCNT")
            with engine.begin() as conn:
                # A few whole days go to the archive; on the later old days one order is still in flight.
                conn.exec_driver_sql(
                    "UPDATE orders SET status = 'QUORUM_MET' WHERE created_at < '2021-06-06' AND status = 'PROCESSING'"
                )
                conn.exec_driver_sql(
                    "UPDATE orders SET status = 'PROCESSING' WHERE created_at >= '2021-06-06' "
                    "AND created_at < '2021-12-02' AND TIME(created_at) < '08:00:00'"
                )
                # Daily runs have walked the after-verdict rules up to about four months ago.
                for rule in ("party_artifacts", "order_participants", "order_deliveries"):
                    conn.exec_driver_sql(
                        "INSERT INTO retention_cursors (name, updated_at, order_key) "
                        f"VALUES ('{rule}', '2026-08-01 00:00:00', '')"
                    )
                for days, statement in (
                    (
                        31,
                        "INSERT INTO party_artifacts (order_key, position, kind, payload, updated_at) "
                        "SELECT order_key, 0, 'powers', '{}', updated_at FROM orders",
                    ),
                    (
                        8,
                        "INSERT INTO outbox (message_id, order_key, queue, body, created_at, published_at, attempts) "
                        "SELECT CONCAT('m', order_key), order_key, 'creation', '{}', created_at, created_at, 1 "
                        "FROM orders",
                    ),
                    (
                        8,
                        "INSERT INTO idempotency_keys (caller, idempotency_key, request_hash, order_key, created_at) "
                        "SELECT 'c', order_key, 'h', order_key, created_at FROM orders",
                    ),
                    (
                        91,
                        "INSERT INTO order_deliveries (order_key, channel, kind, status, attempts, last_attempt_at) "
                        "SELECT order_key, 'WEBHOOK', 'WEBHOOK', 'DELIVERED', 1, updated_at FROM orders",
                    ),
                ):
                    since = (NOW - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
                    conn.exec_driver_sql(f"{statement} WHERE created_at >= '{since}'")
                conn.exec_driver_sql(
                    "INSERT INTO analytics_watermarks (name, high_water, updated_at) "
                    "VALUES ('export_analytics', '2026-12-01 11:00:00', '2026-12-01 11:00:00')"
                )
                conn.exec_driver_sql(
                    "ANALYZE TABLE orders, order_participants, order_parties, party_artifacts, "
                    "outbox, idempotency_keys, order_deliveries, order_status_history"
                )
            yield engine
        finally:
            engine.dispose()


def _captured(engine, work) -> list[tuple[str, object]]:
    seen: dict[str, object] = {}

    def capture(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if not executemany and verb in ("SELECT", "UPDATE", "DELETE") and statement not in seen:
            seen[statement] = parameters

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return list(seen.items())


def test_every_purge_query_uses_an_index(loaded, tmp_path):
    store = SqlRetentionStore(loaded)
    job = RetentionJob(
        store,
        store,
        LocalObjectStore(tmp_path),
        FixedClock(NOW),
        RetentionPolicy(),
        batch_rows=200,
        pause_seconds=0,
        orders_per_archive=100,
    )

    def work():
        job.plan()
        job.run()
        store.person_report("77777777701")

    statements = _captured(loaded, work)
    tables_seen: set[str] = set()
    full_scans = []
    with loaded.connect() as conn:
        for statement, parameters in statements:
            for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters).mappings():
                table = row["table"] or ""
                if table in BOOKKEEPING or table.startswith("<"):
                    continue
                tables_seen.add(table)
                if row["type"] == "ALL":
                    full_scans.append((table, statement.split()[0], " ".join(statement.split())[:300]))

    assert not full_scans, full_scans
    assert {
        "orders",
        "idempotency_keys",
        "outbox",
        "party_artifacts",
        "order_participants",
        "order_deliveries",
        "order_status_history",
        "order_parties",
        "order_rules",
    } <= tables_seen
