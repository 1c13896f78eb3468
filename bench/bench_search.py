"""GET /v1/orders over 100,000 orders on MariaDB: first page vs the 50th page by cursor (keyset, not offset).

Run: .venv/bin/python bench/bench_search.py   (AME_BENCH_MARIADB_URL overrides the admin URL)
Goal: the 50th page costs at most 1.5 x the first.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import order_parties, orders
from chalicelib.adapters.db.search import SqlOrderSearch
from chalicelib.auth import Caller
from chalicelib.domain.keys import new_order_key
from chalicelib.services.search import CursorCodec, OrderQueries, parse_query

ADMIN_URL = os.environ.get("AME_BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test")
ORDERS = 100_000
AREAS = [f"AREA_{i:02d}" for i in range(10)]
STATUSES = ["RECEIVED", "PROCESSING", "QUORUM_MET", "NO_QUORUM", "FAILED"]
PAGE = 20
PAGES = 50
REPEATS = 15
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed_orders(engine: sa.Engine, count: int, areas: list[str], seed: int = 7, batch: int = 5000) -> None:
    """`count` orders spread over `areas` and a year, one in ten with a guarantor; multi-row INSERTs."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        for start in range(0, count, batch):
            rows, parties = [], []
            for _ in range(min(batch, count - start)):
                at = T0 + timedelta(seconds=rng.randrange(365 * 24 * 3600), microseconds=rng.randrange(10**6))
                key = new_order_key(at, rng.randbytes(10))
                naive = at.replace(tzinfo=None)
                rows.append(
                    {
                        "order_key": key,
                        "status": rng.choice(STATUSES),
                        "status_detail": None,
                        "version": 1,
                        "created_by": "bench",
                        "updated_by": "bench",
                        "area_code": rng.choice(areas),
                        "product_code": "CCB_GIRO",
                        "platform": "BANKLINE",
                        "signature_method": "DIGITAL",
                        "amount": "1000.00",
                        "external_reference": f"ref-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
                        "requester_person_type": "PJ",
                        "requester_document": "11222333000181",
                        "idempotency_key": None,
                        "request_hash": None,
                        "area_snapshot": "{}",
                        "request_body": "{}",
                        "result": None,
                        "processing_by": None,
                        "created_at": naive,
                        "updated_at": naive,
                    }
                )
                parties.append(
                    {
                        "order_key": key,
                        "position": 0,
                        "role": "REQUESTER",
                        "person_type": "PJ",
                        "document": "11222333000181",
                        "power_code": "ASSINAR_CCB",
                    }
                )
                if rng.random() < 0.1:
                    parties.append(
                        {
                            "order_key": key,
                            "position": 1,
                            "role": "GUARANTOR",
                            "person_type": "PF",
                            "document": f"{rng.randrange(10**11):011d}",
                            "power_code": None,
                        }
                    )
            conn.execute(orders.insert(), rows)
            conn.execute(order_parties.insert(), parties)
        conn.exec_driver_sql("ANALYZE TABLE orders, order_parties")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    from tests.support import scratch_mariadb

    with scratch_mariadb(ADMIN_URL, "ame_bench") as url:
        engine = create_engine_for(url)
        try:
            return measure(engine, url)
        finally:
            engine.dispose()


def measure(engine, url: str) -> int:
    from migrations.runner import upgrade

    upgrade(url)
    started = time.perf_counter()
    seed_orders(engine, ORDERS, AREAS)
    print(f"seeded {ORDERS:,} orders over {len(AREAS)} areas in {time.perf_counter() - started:.1f} s")
    queries = OrderQueries(None, SqlOrderSearch(engine), CursorCodec(b"bench"))  # type: ignore[arg-type]
    caller = Caller("bench", frozenset({"ame:orders:read"}), frozenset(AREAS))
    params = {"area_code": [AREAS[3]], "status": ["NO_QUORUM"], "limit": [str(PAGE)]}

    cursor = None
    for _ in range(PAGES - 1):  # walk to the 50th page once, by cursor
        page = queries.search(caller, parse_query({**params, **({"cursor": [cursor]} if cursor else {})}))
        cursor = page.next_cursor
    assert cursor is not None, "fewer than 50 pages of data"

    first = lambda: queries.search(caller, parse_query(params))  # noqa: E731
    fiftieth = lambda: queries.search(caller, parse_query({**params, "cursor": [cursor]}))  # noqa: E731
    assert len(fiftieth().items) == PAGE
    for fn in (first, fiftieth):  # warm the buffer pool and the connection pool
        fn()
    t_first = statistics.median(_timed(first) for _ in range(REPEATS))
    t_50 = statistics.median(_timed(fiftieth) for _ in range(REPEATS))
    ratio = t_50 / t_first
    print(f"GET /v1/orders area+status, {PAGE} per page, median of {REPEATS}:")
    print(f"  first page: {t_first * 1000:.2f} ms")
    print(f"  50th page:  {t_50 * 1000:.2f} ms  ({ratio:.2f} x the first; goal <= 1.5 x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
