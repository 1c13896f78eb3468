"""Partner calls per order (docs/analytics.md), added to the order's counters in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import sqlalchemy as sa

from chalicelib.adapters.db.schema import order_partner_calls as pc


def add_partner_calls(conn: sa.Connection, order_key: str, tally: Mapping[str, tuple[int, int, int]]) -> None:
    """Adds (calls, errors, latency ms) per partner to the order's counters. One upsert per partner on MySQL
    and SQLite: two tasks of one order counting the same partner at once (two PF guarantors asking Pessoas)
    both add up, and neither fails the write it rides along with on a duplicate key."""
    rows = [
        {"order_key": order_key, "partner": partner, "calls": calls, "errors": errors, "latency_ms": latency}
        for partner, (calls, errors, latency) in sorted(tally.items())
    ]
    if not rows:
        return
    upsert = _upsert(conn.dialect.name)
    if upsert is not None:
        conn.execute(upsert, rows)
        return
    for row in rows:
        key = (pc.c.order_key == order_key, pc.c.partner == row["partner"])
        added = {name: pc.c[name] + row[name] for name in ("calls", "errors", "latency_ms")}
        if conn.execute(pc.update().where(*key).values(**added)).rowcount == 0:
            conn.execute(pc.insert().values(**row))


@cache
def _upsert(dialect: str) -> Any:
    """The dialect's add-to-the-counters upsert, built once (None: the dialect has none we use)."""
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        inserted = mysql_insert(pc)
        return inserted.on_duplicate_key_update(
            calls=pc.c.calls + inserted.inserted.calls,
            errors=pc.c.errors + inserted.inserted.errors,
            latency_ms=pc.c.latency_ms + inserted.inserted.latency_ms,
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        inserted = sqlite_insert(pc)
        return inserted.on_conflict_do_update(
            index_elements=[pc.c.order_key, pc.c.partner],
            set_={
                "calls": pc.c.calls + inserted.excluded.calls,
                "errors": pc.c.errors + inserted.excluded.errors,
                "latency_ms": pc.c.latency_ms + inserted.excluded.latency_ms,
            },
        )
    return None
