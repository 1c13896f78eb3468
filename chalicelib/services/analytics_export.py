"""The analytics export: changed days since the watermark → Parquet partitions, dimensions and the daily roll-up.

Incremental and re-runnable (docs/analytics.md): the orders updated since the stored watermark name the
creation days to rewrite; each day's partition is rebuilt whole from the database (one file per day, so an
order is never in two rows) and replaces the old file atomically; the roll-up of those days is replaced
in one transaction; the watermark moves only after everything is written, so a crash means the next run
does the same work again. The same code runs in Lambda (S3) and locally (`.local/analytics`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.analytics import (
    DIMENSIONS,
    FACTS,
    PARTITION_COLUMN,
    OrderRow,
    PartyRow,
    build_facts,
    dimension_rows,
    rollup,
)

log = logging.getLogger(__name__)

WATERMARK = "export_analytics"
PART_FILE = "part-00000.parquet"


class AnalyticsSource(Protocol):
    def changed_days(self, after: datetime | None, until: datetime) -> list[date]: ...
    def all_days(self) -> list[date]: ...
    def archived_days(self) -> set[date]: ...
    def order_rows(self, start: date, end: date) -> Iterable[OrderRow]: ...
    def party_rows(self, start: date, end: date) -> Iterable[PartyRow]: ...
    def dimension_sources(self) -> dict[str, Any]: ...
    def watermark(self, name: str) -> datetime | None: ...
    def set_watermark(self, name: str, high_water: datetime, now: datetime) -> None: ...
    def replace_rollup(self, days: Iterable[date], daily: Mapping[Any, Any], reasons: Mapping[Any, Any]) -> None: ...


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> list[str]: ...


# (columns, data) -> file bytes; chalicelib.adapters.parquet.parquet_bytes in production.
FileWriter = Callable[[Sequence[tuple[str, str]], Mapping[str, list[Any]]], bytes]


def partition_key(table: str, day: date) -> str:
    return f"{table}/{PARTITION_COLUMN}={day.isoformat()}/{PART_FILE}"


def dimension_key(table: str) -> str:
    return f"{table}/{table}.parquet"


@dataclass(frozen=True)
class ExportResult:
    days: int
    orders: int
    parties: int
    files: int
    high_water: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "orders": self.orders,
            "parties": self.parties,
            "files": self.files,
            "high_water": self.high_water.isoformat(),
        }


class AnalyticsExport:
    def __init__(
        self,
        source: AnalyticsSource,
        objects: ObjectStore,
        write: FileWriter,
        hmac_key: Callable[[], bytes],
        clock: Any,
        lag_seconds: float = 30.0,
        window_days: int = 7,
        min_interval_seconds: float = 0.0,
    ):
        self._source = source
        self._objects = objects
        self._write = write
        self._hmac_key = hmac_key
        self._clock = clock
        # Rows committed up to this long after their updated_at are still seen by the next run.
        self._lag = timedelta(seconds=lag_seconds)
        self._window_days = window_days
        # A run sooner than this after the previous one does nothing (the local stack fires every
        # schedule every few seconds; AWS fires this one hourly).
        self._min_interval = timedelta(seconds=min_interval_seconds)

    def run(self, full: bool = False) -> ExportResult:
        from chalicelib.adapters.db.analytics import day_windows

        now = self._clock.now()
        until = now - self._lag
        after = None if full else self._source.watermark(WATERMARK)
        if after is not None and self._min_interval and now - self._lag - after < self._min_interval:
            return ExportResult(days=0, orders=0, parties=0, files=0, high_water=after)
        days = self._source.all_days() if after is None else self._source.changed_days(after, until)
        key = self._hmac_key()
        # Days whose orders went to the retention archive (docs/data-lifecycle.md): their partitions stay as
        # the last export wrote them, so the export keeps every purged order.
        archived = self._source.archived_days()
        days = [d for d in days if d not in archived]
        orders = parties = files = 0
        for start, end in day_windows(days, self._window_days):
            by_day: dict[date, list[OrderRow]] = {}
            for row in self._source.order_rows(start, end):
                by_day.setdefault(row.created_at.date(), []).append(row)
            parties_of: dict[str, list[PartyRow]] = {}
            for party in self._source.party_rows(start, end):
                parties_of.setdefault(party.order_key, []).append(party)
            window_days = [start + timedelta(days=i) for i in range((end - start).days)]
            daily: dict[Any, Any] = {}
            reasons: dict[Any, Any] = {}
            for day in window_days:
                rows = by_day.get(day)
                if not rows:  # every order of that day is gone (and not archived): no partition
                    for table in FACTS:
                        self._objects.delete(partition_key(table, day))
                    continue
                batch = build_facts(rows, (p for r in rows for p in parties_of.get(r.order_key, ())), key)
                for table in FACTS:
                    data = batch.orders if table == "fact_orders" else batch.parties
                    self._objects.put(partition_key(table, day), self._write(FACTS[table], data))
                    files += 1
                day_daily, day_reasons = rollup(batch)
                daily.update(day_daily)
                reasons.update(day_reasons)
                orders += len(batch)
                parties += len(batch.parties["order_key"])
            self._source.replace_rollup(window_days, daily, reasons)
        if after is None:
            files += self._drop_partitions_not_in(set(days) | archived)
        files += self._write_dimensions()
        self._source.set_watermark(WATERMARK, until, now)
        result = ExportResult(days=len(days), orders=orders, parties=parties, files=files, high_water=until)
        log.info("analytics export done", extra=result.as_dict())
        return result

    def _drop_partitions_not_in(self, days: set[date]) -> int:
        dropped = 0
        for table in FACTS:
            for k in self._objects.keys(f"{table}/"):
                part = k.split("/")[1] if k.count("/") >= 2 else ""
                if part.startswith(f"{PARTITION_COLUMN}=") and date.fromisoformat(part[3:]) not in days:
                    self._objects.delete(k)
                    dropped += 1
        return dropped

    def _write_dimensions(self) -> int:
        sources = self._source.dimension_sources()
        products = {code: code for code in sources["products"]}
        tables = dimension_rows(
            sources["areas"],
            sources["platforms"],
            sources["methods"],
            products,
            sources["first_day"],
            sources["last_day"],
        )
        for table, data in tables.items():
            self._objects.put(dimension_key(table), self._write(DIMENSIONS[table], data))
        return len(tables)
