"""The purge job over the in-memory store: the lease is renewed and a lost lease stops the run; the time box."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.services.retention import LEASE_NAME, RetentionJob
from tests.fakes import FixedClock, InMemoryRetentionStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _store(orders: int) -> InMemoryRetentionStore:
    store = InMemoryRetentionStore()
    for i in range(orders):
        at = datetime(2021, 3, 1 + i % 5, 10, tzinfo=UTC)
        key = f"K{i:04d}"
        store.orders[key] = {"order_key": key, "status": "QUORUM_MET", "created_at": at, "updated_at": at}
        store.children["history"].append({"order_key": key, "status": "QUORUM_MET", "created_at": at})
    store.watermark = NOW
    return store


def _job(store, tmp_path, ticks, **kw) -> RetentionJob:
    return RetentionJob(
        store,
        kw.pop("lease", store),
        LocalObjectStore(tmp_path),
        FixedClock(NOW),
        RetentionPolicy(),
        pause_seconds=0,
        batch_rows=10,
        orders_per_archive=5,
        monotonic=lambda: float(next(ticks)),
        **kw,
    )


def test_a_run_that_loses_its_lease_stops_at_the_next_batch(tmp_path):
    store = _store(50)
    ticks = iter(range(0, 100_000, 10))  # 10 s per batch: the 120 s lease is renewed every 40 s

    class Stolen:
        def __init__(self):
            self.stolen = 0

        def acquire_lease(self, name, holder, now, until):
            if len(store.orders) < 50 and not self.stolen:  # mid-archive, the lease expired and another run took it
                self.stolen = len(store.orders)
                store.release_lease(name, holder, now)
                assert store.acquire_lease(name, "other", now, now + timedelta(hours=1))
            return store.acquire_lease(name, holder, now, until)

        def release_lease(self, name, holder, now):
            store.release_lease(name, holder, now)

    lease = Stolen()
    result = _job(store, tmp_path, ticks, lease=lease, time_box_seconds=10_000).run()

    assert lease.stolen and not result.complete
    assert len(store.orders) == lease.stolen  # nothing more after the lease was lost
    assert store.acquire_lease(LEASE_NAME, "third", NOW, NOW) is False  # the other run still holds it


def test_time_boxed_runs_resume_until_done(tmp_path):
    store = _store(50)
    ticks = iter(range(100_000))
    runs = 0
    while store.orders:
        runs += 1
        assert runs < 50
        _job(store, tmp_path, ticks, time_box_seconds=40).run()
    assert runs > 1 and len(store.archived_orders) == 50
