"""`bin/ame analytics export|query`: the export into `.local/analytics` and the named queries through DuckDB.

The queries are the same `.sql` files as Athena's named queries (analytics/queries/), run over DuckDB views
named like the Glue tables, with `dt` a string as Glue has it (docs/analytics.md).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from chalicelib.domain.analytics import DIMENSIONS, FACTS

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "analytics" / "queries"
DEFAULT_OUTPUT = ROOT / ".local" / "analytics"
LOCAL_KEY_FILE = ROOT / ".local" / "analytics-hmac.key"


def query_names() -> list[str]:
    return sorted(p.stem for p in QUERIES.glob("*.sql"))


def query_sql(name: str) -> str:
    path = QUERIES / f"{name}.sql"
    if name not in query_names():
        raise KeyError(f"no named query {name!r}; known: {', '.join(query_names())}")
    return path.read_text(encoding="utf-8")


def local_hmac_key(path: Path | None = None) -> bytes:
    """The key this machine's exports use when no Secrets Manager endpoint is configured (made once)."""
    path = path or LOCAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="ascii")
    return path.read_text(encoding="ascii").strip().encode("ascii")


def export(
    database_url: str, output: Path = DEFAULT_OUTPUT, full: bool = False, hmac_key: bytes | None = None
) -> dict[str, Any]:
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.db.analytics import SqlAnalyticsStore, create_export_engine
    from chalicelib.adapters.object_store import LocalObjectStore
    from chalicelib.adapters.parquet import parquet_bytes
    from chalicelib.services.analytics_export import AnalyticsExport

    key = hmac_key if hmac_key is not None else local_hmac_key()
    engine = create_export_engine(database_url)
    try:
        job = AnalyticsExport(
            SqlAnalyticsStore(engine),
            LocalObjectStore(output),
            parquet_bytes,
            lambda: key,
            SystemClock(),
            lag_seconds=0,
        )
        return {**job.run(full=full).as_dict(), "output": str(output)}
    finally:
        engine.dispose()


def connect(root: Path = DEFAULT_OUTPUT) -> Any:
    """A DuckDB connection with one view per Glue table over the files under `root`."""
    import duckdb

    conn = duckdb.connect()
    for table in FACTS:
        pattern = root / table / "dt=*" / "*.parquet"
        if any((root / table).glob("dt=*/*.parquet")):
            conn.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
                "hive_types = {'dt': VARCHAR})"
            )
        else:  # no partition yet: an empty view with the right columns
            conn.execute(
                f"CREATE VIEW {table} AS SELECT {_empty_select(FACTS[table])}, CAST(NULL AS VARCHAR) AS dt WHERE FALSE"
            )
    for table, columns in DIMENSIONS.items():
        path = root / table / f"{table}.parquet"
        if path.exists():
            conn.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
        else:
            conn.execute(f"CREATE VIEW {table} AS SELECT {_empty_select(columns)} WHERE FALSE")
    return conn


_DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def _empty_select(columns: Any) -> str:
    return ", ".join(f"CAST(NULL AS {_DUCK_TYPES[kind]}) AS {name}" for name, kind in columns)


def run_query(name: str, root: Path = DEFAULT_OUTPUT, conn: Any = None) -> tuple[list[str], list[tuple]]:
    own = conn is None
    conn = conn or connect(root)
    try:
        cursor = conn.execute(query_sql(name))
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        if own:
            conn.close()


def database_url() -> str:
    from ame_local.config import default_database_url

    return os.environ.get("AME_DATABASE_URL") or default_database_url()
