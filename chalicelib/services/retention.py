"""The daily purge job (docs/data-lifecycle.md): retention periods applied in small batches, archive before delete.

One run holds a lease (a second run at the same time returns at once), works rule by rule in batches of at
most `batch_rows` rows per transaction with a pause between them, stops starting batches once its time box
is spent (the next run resumes: cursors and keysets, no state in memory), and touches only terminal orders
the analytics export has already taken. Orders past retention are written to an archive object per
creation day and batch (gzip JSON Lines, deterministic name), confirmed (size and checksum read back), and
recorded as ARCHIVED before any of their rows is deleted; a run first finishes every ARCHIVED object it
finds (read back, checked, its orders deleted), so a run killed between archive and delete loses nothing and
archives nothing twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.domain.retention import (
    AFTER_VERDICT,
    TERMINAL,
    RetentionPolicy,
    Rule,
    archive_key,
    chunk_by_rows,
    decode_archive,
    digest,
    encode_archive,
    record_rows,
)
from chalicelib.services.ports import ArchiveObjects, ArchivePart, Clock, JobLease, RetentionStore

log = logging.getLogger(__name__)

LEASE_NAME = "purge_data"


class ArchiveNotConfirmed(RuntimeError):
    """An archive object did not read back as written: nothing of its orders is deleted."""


@dataclass
class RunResult:
    ran: bool
    purged: dict[str, int] = field(default_factory=dict)  # rows deleted per table
    anonymised: dict[str, int] = field(default_factory=dict)  # rows anonymised per table
    archived_orders: int = 0
    archive_objects: int = 0
    complete: bool = True  # False: the time box ran out with work left
    backlog: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, rows: int, anonymised: bool = False) -> None:
        target = self.anonymised if anonymised else self.purged
        target[table] = target.get(table, 0) + rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "purged": dict(sorted(self.purged.items())),
            "anonymised": dict(sorted(self.anonymised.items())),
            "archived_orders": self.archived_orders,
            "archive_objects": self.archive_objects,
            "complete": self.complete,
            "backlog": dict(sorted(self.backlog.items())),
        }


class _TimeUp(Exception):
    pass


class RetentionJob:
    def __init__(
        self,
        store: RetentionStore,
        lease: JobLease,
        archive: ArchiveObjects,
        clock: Clock,
        policy: RetentionPolicy,
        batch_rows: int = 1000,
        pause_seconds: float = 0.05,
        time_box_seconds: float = 600.0,
        lease_seconds: float = 120.0,
        orders_per_archive: int = 500,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Callable[[RunResult], None] | None = None,
    ) -> None:
        if not 1 <= batch_rows <= 1000:
            raise ValueError("batch_rows must be between 1 and 1000")
        self._store = store
        self._lease = lease
        self._archive = archive
        self._clock = clock
        self._policy = policy
        self._batch = batch_rows
        self._pause = pause_seconds
        self._time_box = time_box_seconds
        self._lease_seconds = lease_seconds
        self._per_archive = min(orders_per_archive, 999)
        self._sleep = sleep
        self._monotonic = monotonic
        self._metrics = metrics
        self._holder = f"purge-{uuid.uuid4().hex[:12]}"
        self._deadline = 0.0
        self._renew_at = 0.0

    # -- the plan (dry run) -------------------------------------------------------------------------------

    def plan(self) -> dict[str, dict[str, Any]]:
        """Rows eligible now per table and the oldest of them; nothing is changed."""
        now = self._clock.now()
        cutoffs = self._policy.cutoffs(now)
        wm = self._store.exported_until()
        out: dict[str, dict[str, Any]] = {}
        for rule in (Rule.IDEMPOTENCY_KEYS, Rule.PUBLISHED_OUTBOX):
            count, oldest = self._store.count_own_time(rule, cutoffs[rule], wm)
            out[rule.value] = _planned(rule, count, oldest, "delete")
        for rule in AFTER_VERDICT:
            count, oldest = self._store.count_after_verdict(rule, self._store.cursor(rule), cutoffs[rule], wm)
            action = "anonymise e-mail and phone" if rule is Rule.PARTICIPANT_CONTACTS else "delete"
            out[rule.value] = _planned(rule, count, oldest, action)
        count, oldest = self._store.count_orders_due(_day_floor(cutoffs[Rule.ORDERS]), cutoffs[Rule.ORDERS], wm)
        out[Rule.ORDERS.value] = _planned(Rule.ORDERS, count, oldest, "archive, then delete with every child row")
        out[Rule.ORDERS.value]["pending_archives"] = len(self._store.pending_archives())
        for entry in out.values():
            entry["exported_until"] = wm.isoformat() if wm else None
        return out

    # -- the run --------------------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self._holder = f"purge-{uuid.uuid4().hex[:12]}"  # per run: two runs of one object are two holders
        start = self._monotonic()
        self._deadline = start + self._time_box
        now = self._clock.now()
        if not self._lease.acquire_lease(LEASE_NAME, self._holder, now, now + timedelta(seconds=self._lease_seconds)):
            log.info("purge_data: another run holds the lease")
            return RunResult(ran=False)
        self._renew_at = start + self._lease_seconds / 3
        result = RunResult(ran=True)
        try:
            wm = self._store.exported_until()
            if wm is None:
                log.warning("purge_data: the analytics export has not run yet; nothing is purged")
            else:
                cutoffs = self._policy.cutoffs(now)
                try:
                    for rule in (Rule.IDEMPOTENCY_KEYS, Rule.PUBLISHED_OUTBOX):
                        self._own_time(rule, cutoffs[rule], wm, result)
                    for rule in AFTER_VERDICT:
                        self._after_verdict(rule, cutoffs[rule], wm, result)
                    self._finish_pending(result)
                    self._archive_orders(cutoffs[Rule.ORDERS], wm, result)
                except _TimeUp:
                    result.complete = False
            result.backlog = {table: entry["eligible"] for table, entry in self.plan().items()}
        finally:
            self._lease.release_lease(LEASE_NAME, self._holder, self._clock.now())
        if self._metrics is not None:
            self._metrics(result)
        log.info("purge_data done", extra=result.as_dict())
        return result

    def _step(self) -> None:
        """Between batches: out of time? keep the lease; a short pause so other writers get the locks."""
        if self._monotonic() >= self._deadline:
            raise _TimeUp
        if self._monotonic() >= self._renew_at:  # a third of the lease gone: renew it (one short write)
            now = self._clock.now()
            if not self._lease.acquire_lease(
                LEASE_NAME, self._holder, now, now + timedelta(seconds=self._lease_seconds)
            ):
                raise _TimeUp  # the lease was lost (this run stalled past it): stop, the holder goes on
            self._renew_at = self._monotonic() + self._lease_seconds / 3
        if self._pause:
            self._sleep(self._pause)

    def _own_time(self, rule: Rule, cutoff: datetime, wm: datetime, result: RunResult) -> None:
        position: Any = None
        while True:
            self._step()
            batch = self._store.purge_own_time(rule, cutoff, wm, position, self._batch)
            result.add(rule.value, batch.rows)
            position = batch.position
            if batch.done:
                return

    def _after_verdict(self, rule: Rule, cutoff: datetime, wm: datetime, result: RunResult) -> None:
        anonymise = rule is Rule.PARTICIPANT_CONTACTS
        while True:
            self._step()
            cursor = self._store.cursor(rule)
            candidates = self._store.orders_after_verdict(cursor, cutoff, wm, self._batch)
            if not candidates:
                return
            terminal = [c.order_key for c in candidates if c.status in TERMINAL]
            sizes = self._store.child_rows(rule, terminal) if terminal else {}
            groups = chunk_by_rows(((k, sizes[k]) for k in terminal if sizes.get(k)), self._batch)
            for i, keys in enumerate(groups):
                if i:
                    self._step()
                result.add(rule.value, self._store.apply_after_verdict(rule, keys), anonymised=anonymise)
            last = candidates[-1]
            self._store.set_cursor(rule, (last.updated_at, last.order_key))
            if len(candidates) < self._batch:
                return

    # -- archive, then delete -------------------------------------------------------------------------------

    def _finish_pending(self, result: RunResult) -> None:
        for part in self._store.pending_archives():
            data = self._archive.read(part.object_key)
            if data is None or len(data) != part.size or digest(data) != part.sha256:
                raise ArchiveNotConfirmed(f"archive object {part.object_key} does not read back as recorded")
            records = decode_archive(data)
            if len(records) != part.orders:
                raise ArchiveNotConfirmed(f"archive object {part.object_key} holds {len(records)} orders")
            self._delete_archived(part, records, result)

    def _archive_orders(self, cutoff: datetime, wm: datetime, result: RunResult) -> None:
        before = _day_floor(cutoff)  # whole creation days only
        day: date | None = None
        while True:
            self._step()
            day = self._store.next_archive_day(day, before)
            if day is None:
                return
            if self._store.day_blockers(day, cutoff, wm):
                # A day goes whole or not at all, so its analytics partition is never rewritten short.
                log.info("purge_data: creation day kept, some orders may not go yet", extra={"day": day.isoformat()})
                continue
            while True:
                keys = self._store.day_orders(day, self._per_archive)
                if not keys:
                    break
                self._archive_part(day, keys, result)
                if len(keys) < self._per_archive:
                    break
                self._step()
            # `day` stays the position: the next lookup starts after it

    def _archive_part(self, day: date, keys: list[str], result: RunResult) -> None:
        records = self._store.order_records(keys)
        data = encode_archive(records)
        sha = digest(data)
        object_key = archive_key(day, records[0]["order"]["order_key"], records[-1]["order"]["order_key"])
        if not self._archive.put_confirmed(object_key, data, sha):
            raise ArchiveNotConfirmed(f"archive object {object_key} did not read back as written")
        part = ArchivePart(
            object_key=object_key,
            day=day,
            first_order_key=records[0]["order"]["order_key"],
            last_order_key=records[-1]["order"]["order_key"],
            orders=len(records),
            rows=sum(record_rows(r) for r in records),
            size=len(data),
            sha256=sha,
        )
        self._store.record_archive(part, [r["order"]["order_key"] for r in records], self._clock.now())
        result.archive_objects += 1
        self._delete_archived(part, records, result)

    def _delete_archived(self, part: ArchivePart, records: list[dict[str, Any]], result: RunResult) -> None:
        sizes = ((r["order"]["order_key"], record_rows(r)) for r in records)
        for i, keys in enumerate(chunk_by_rows(sizes, self._batch)):
            if i and self._monotonic() < self._deadline and self._pause:
                self._sleep(self._pause)  # the object is confirmed: finish its deletes even past the time box
            for table, rows in self._store.delete_orders(keys).items():
                result.add(table, rows)
            result.archived_orders += len(keys)
        self._store.mark_deleted(part.object_key, self._clock.now())


def _day_floor(value: datetime) -> date:
    return value.date()


def _planned(rule: Rule, count: int, oldest: datetime | None, action: str) -> dict[str, Any]:
    return {"eligible": count, "oldest": oldest.isoformat() if oldest else None, "action": action, "rule": rule.name}
