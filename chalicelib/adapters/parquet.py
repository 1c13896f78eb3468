"""Parquet (snappy) files from the analytics columns. Imports pyarrow: load only inside the export function.

pyarrow comes from the AWS SDK for pandas layer attached to `export_analytics` alone (docs/analytics.md);
the API's package never holds it, so nothing reachable from `import app` may import this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Glue/Athena type -> Arrow type. The Glue tables are built from the same names (infra/analytics_template.py),
# and a test compares the written files' schema with the Glue columns.
ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
}


def arrow_schema(columns: Sequence[tuple[str, str]]) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in columns])


def parquet_bytes(columns: Sequence[tuple[str, str]], data: Mapping[str, list[Any]]) -> bytes:
    """One Parquet file, snappy, one row group, no pandas metadata (so equal data gives equal bytes)."""
    schema = arrow_schema(columns)
    table = pa.Table.from_arrays(
        [pa.array(data[name], type=field.type) for name, field in zip((c for c, _ in columns), schema)], schema=schema
    )
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="snappy", row_group_size=max(len(table), 1), store_schema=False, write_statistics=True
    )
    return sink.getvalue().to_pybytes()


def read_schema(data: bytes) -> pa.Schema:
    return pq.read_schema(pa.BufferReader(data))


def read_table(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))
