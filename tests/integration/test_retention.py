"""The purge job on SQLite and MariaDB: in-flight orders untouched, archives equal to the deleted rows, a run
killed between archive and delete, two runs at once, the analytics export keeping purged orders, batches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ame_local.analytics_seed import seed_orders
from chalicelib.adapters.db.retention import SqlRetentionStore
from chalicelib.adapters.db.schema import (
    analytics_watermarks,
    idempotency_keys,
    order_deliveries,
    order_participants,
    order_parties,
    orders,
    outbox,
    party_artifacts,
    retention_archived_orders,
    retention_archives,
)
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.domain.retention import RetentionPolicy, decode_archive
from chalicelib.services.retention import ArchiveNotConfirmed, RetentionJob
from tests.fakes import FixedClock
from tests.integration.conftest import clear

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD_DAY = date(2021, 3, 1)  # past five years
OLD_DAYS = 3
RECENT_DAY = date(2026, 10, 1)  # 61 days before NOW: past the 30-day rules, not the 90-day one


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _extras(engine, keys: list[str], at: datetime) -> None:
    """Rows the analytics seed does not write: partner answers, deliveries, outbox, idempotency keys."""
    with engine.begin() as conn:
        conn.execute(
            party_artifacts.insert(),
            [{"order_key": k, "position": 0, "kind": "powers", "payload": "{}", "updated_at": at} for k in keys],
        )
        conn.execute(
            order_deliveries.insert(),
            [
                {
                    "order_key": k,
                    "channel": "WEBHOOK",
                    "kind": "WEBHOOK",
                    "target": None,
                    "status": "DELIVERED",
                    "attempts": 1,
                    "lease_until": None,
                    "last_error": None,
                    "message_id": None,
                    "first_attempt_at": at,
                    "last_attempt_at": at,
                    "delivered_at": at,
                }
                for k in keys
            ],
        )
        conn.execute(
            outbox.insert(),
            [
                {
                    "message_id": f"m-{k}",
                    "order_key": k,
                    "queue": "creation",
                    "body": "{}",
                    "created_at": at,
                    "published_at": at,
                    "attempts": 1,
                }
                for k in keys
            ],
        )
        conn.execute(
            idempotency_keys.insert(),
            [
                {"caller": "c", "idempotency_key": f"i-{k}", "request_hash": "h", "order_key": k, "created_at": at}
                for k in keys
            ],
        )


def _keys(engine, where=None) -> list[str]:
    where = sa.true() if where is None else where
    with engine.connect() as conn:
        return [k for (k,) in conn.execute(sa.select(orders.c.order_key).where(where).order_by(orders.c.order_key))]


def _set_watermark(engine, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(analytics_watermarks.delete())
        conn.execute(
            analytics_watermarks.insert().values(name="export_analytics", high_water=_naive(at), updated_at=_naive(at))
        )


@pytest.fixture()
def seeded(engine):
    """Old orders (all with verdicts) over 3 days, one old day with orders in flight, recent orders."""
    clear(engine)
    seed_orders(engine, 90, OLD_DAY, OLD_DAYS, seed=1, prefix="OLDX", in_flight=False)
    seed_orders(engine, 40, OLD_DAY - timedelta(days=10), 1, seed=2, prefix="BLKD", in_flight=True)
    seed_orders(engine, 60, RECENT_DAY, 1, seed=3, prefix="RCNT", in_flight=True)
    _extras(engine, _keys(engine, orders.c.order_key.like("OLDX%")), datetime(2021, 3, 5))
    _extras(engine, _keys(engine, orders.c.order_key.like("RCNT%")), datetime(2026, 10, 2))
    _set_watermark(engine, NOW - timedelta(hours=1))
    return engine


def _job(engine, tmp_path, **kw) -> RetentionJob:
    store = kw.pop("store", None) or SqlRetentionStore(engine)
    return RetentionJob(
        store,
        kw.pop("lease", store),
        kw.pop("archive", LocalObjectStore(tmp_path / "archive")),
        kw.pop("clock", FixedClock(NOW)),
        RetentionPolicy(),
        pause_seconds=kw.pop("pause_seconds", 0),
        **kw,
    )


def _snapshot(engine, keys) -> dict[str, dict]:
    return {r["order"]["order_key"]: r for r in SqlRetentionStore(engine).order_records(keys)}


def _archived(tmp_path) -> dict[str, dict]:
    store = LocalObjectStore(tmp_path / "archive")
    out: dict[str, dict] = {}
    for key in store.keys("orders/"):
        for record in decode_archive(store.get(key)):
            assert record["order"]["order_key"] not in out, "an order archived twice"
            out[record["order"]["order_key"]] = record
    return out


def _in_flight(engine) -> list[str]:
    return _keys(engine, orders.c.status.in_(("RECEIVED", "PROCESSING")))


def _rows_of(engine, keys) -> dict[str, dict]:
    return _snapshot(engine, keys)


def test_in_flight_orders_are_never_touched(seeded, tmp_path):
    flying = _in_flight(seeded)
    assert flying, "the seed has orders in flight"
    _extras(seeded, [k for k in flying if k.startswith("BLKD")], datetime(2021, 2, 1))
    before = _rows_of(seeded, flying)

    result = _job(seeded, tmp_path).run()

    assert result.ran and result.complete
    assert _rows_of(seeded, flying) == before
    # The old day with orders in flight is kept whole, terminal ones included (its analytics partition stays).
    assert len(_keys(seeded, orders.c.order_key.like("BLKD%"))) == 40


def _after_the_short_rules(records: dict[str, dict]) -> dict[str, dict]:
    """What an old order still holds when its archive is written: the 7-, 30- and 90-day rules came first."""
    out = {}
    for key, record in records.items():
        record = {**record, "artifacts": [], "deliveries": [], "outbox": [], "idempotency_keys": []}
        record["participants"] = [{**p, "email": None, "phone": None} for p in record["participants"]]
        out[key] = record
    return out


def test_archives_match_the_deleted_rows(seeded, tmp_path):
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    before = _after_the_short_rules(_snapshot(seeded, old))

    result = _job(seeded, tmp_path).run()

    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == []
    assert _archived(tmp_path) == before
    assert result.archived_orders == len(old) and result.purged["orders"] == len(old)
    for table, name in (
        ("order_status_history", "history"),
        ("order_parties", "parties"),
        ("order_rules", "rules"),
        ("order_partner_calls", "partner_calls"),
    ):
        assert result.purged[table] == sum(len(r[name]) for r in before.values()), table
    with seeded.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(retention_archived_orders)).scalar() == len(old)
        states = {s for (s,) in conn.execute(sa.select(retention_archives.c.state))}
    assert states == {"DELETED"}
    for key in LocalObjectStore(tmp_path / "archive").keys("orders/"):
        assert key.startswith("orders/dt=2021-03-0") and key.endswith(".jsonl.gz")


def test_recent_terminal_orders_lose_artifacts_contacts_and_keys_but_keep_the_verdict(seeded, tmp_path):
    recent_done = _keys(seeded, orders.c.order_key.like("RCNT%") & orders.c.status.in_(("QUORUM_MET", "NO_QUORUM")))
    with seeded.connect() as conn:
        verdicts = conn.execute(
            sa.select(order_parties.c.order_key, order_parties.c.quorum_met, order_parties.c.reason)
            .where(order_parties.c.order_key.in_(recent_done))
            .order_by(order_parties.c.order_key)
        ).all()
        people = conn.execute(
            sa.select(
                order_participants.c.cpf,
                order_participants.c.name,
                order_participants.c.groups,
                order_participants.c.reasons,
            )
            .where(order_participants.c.order_key.in_(recent_done))
            .order_by(order_participants.c.cpf)
        ).all()

    result = _job(seeded, tmp_path).run()

    with seeded.connect() as conn:
        contacts = conn.execute(
            sa.select(order_participants.c.email, order_participants.c.phone).where(
                order_participants.c.order_key.in_(recent_done)
            )
        ).all()
        artifacts = conn.execute(
            sa.select(sa.func.count()).select_from(party_artifacts).where(party_artifacts.c.order_key.in_(recent_done))
        ).scalar()
        deliveries = conn.execute(
            sa.select(sa.func.count())
            .select_from(order_deliveries)
            .where(order_deliveries.c.order_key.in_(recent_done))
        ).scalar()
        keys = conn.execute(
            sa.select(sa.func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.order_key.in_(recent_done))
        ).scalar()
        assert (
            conn.execute(
                sa.select(order_parties.c.order_key, order_parties.c.quorum_met, order_parties.c.reason)
                .where(order_parties.c.order_key.in_(recent_done))
                .order_by(order_parties.c.order_key)
            ).all()
            == verdicts
        )
        assert (
            conn.execute(
                sa.select(
                    order_participants.c.cpf,
                    order_participants.c.name,
                    order_participants.c.groups,
                    order_participants.c.reasons,
                )
                .where(order_participants.c.order_key.in_(recent_done))
                .order_by(order_participants.c.cpf)
            ).all()
            == people
        )
    assert contacts and all(c == (None, None) for c in contacts)
    assert artifacts == 0 and keys == 0
    assert deliveries == len(recent_done)  # 61 days: delivery rows stay 90
    assert result.anonymised["order_participants"] >= len(contacts)  # old orders too, before their archive
    assert _job(seeded, tmp_path).run().anonymised == {}  # idempotent: nothing left to do


def test_nothing_is_touched_before_the_analytics_export_took_it(seeded, tmp_path):
    _set_watermark(seeded, datetime(2021, 2, 1, tzinfo=UTC))  # the export stopped before the old orders
    everything = _keys(seeded)
    before = _rows_of(seeded, everything)

    _job(seeded, tmp_path).run()

    assert _rows_of(seeded, everything) == before


class _KilledAfter:
    """A store that dies at the n-th call of one method, as a Lambda timeout or crash would."""

    def __init__(self, inner, method: str, calls: int = 1):
        self._inner, self._method, self._left = inner, method, calls

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def dying(*args, **kwargs):
            self._left -= 1
            if self._left < 0:
                raise SystemExit("killed")
            return attr(*args, **kwargs)

        return dying


def test_a_job_killed_between_archive_and_delete_loses_nothing_and_repeats_nothing(seeded, tmp_path):
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    before = _after_the_short_rules(_snapshot(seeded, old))
    store = SqlRetentionStore(seeded)

    with pytest.raises(SystemExit):  # archived and recorded, then killed before the first delete
        _job(seeded, tmp_path, store=_KilledAfter(store, "delete_orders", 0)).run()
    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == old
    assert [p.state for p in store.pending_archives()] == ["ARCHIVED"]
    with pytest.raises(SystemExit):  # the re-run finishes that object, then is killed after one more delete
        _job(seeded, tmp_path, store=_KilledAfter(store, "delete_orders", 1)).run()
    _job(seeded, tmp_path).run()

    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == []
    assert _archived(tmp_path) == before
    with seeded.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(retention_archived_orders)).scalar() == len(old)


def test_a_job_killed_after_writing_the_object_writes_the_same_object_again(seeded, tmp_path):
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    before = _after_the_short_rules(_snapshot(seeded, old))
    store = SqlRetentionStore(seeded)

    with pytest.raises(SystemExit):  # the object is written, the run dies before recording it
        _job(seeded, tmp_path, store=_KilledAfter(store, "record_archive", 0)).run()
    first = LocalObjectStore(tmp_path / "archive").keys("orders/")
    _job(seeded, tmp_path).run()

    assert len(first) == 1 and first[0] in LocalObjectStore(tmp_path / "archive").keys("orders/")
    assert _archived(tmp_path) == before


def test_a_corrupted_archive_object_stops_the_delete(seeded, tmp_path):
    store = SqlRetentionStore(seeded)
    with pytest.raises(SystemExit):
        _job(seeded, tmp_path, store=_KilledAfter(store, "delete_orders", 0)).run()
    (part,) = store.pending_archives()
    (tmp_path / "archive" / part.object_key).write_bytes(b"not the archive")
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))

    with pytest.raises(ArchiveNotConfirmed):
        _job(seeded, tmp_path).run()
    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == old


def test_two_jobs_at_once_do_the_work_once(seeded, tmp_path):
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    second: list = []

    def pause(_seconds: float) -> None:
        if not second:  # while the first run holds the lease, a second one starts
            second.append(_job(seeded, tmp_path).run())

    first = _job(seeded, tmp_path, pause_seconds=0.001, sleep=pause).run()

    assert first.ran and not second[0].ran
    assert first.archived_orders == len(old)
    assert len(_archived(tmp_path)) == len(old)
    assert _job(seeded, tmp_path).run().archived_orders == 0  # the lease was released: a later run finds nothing


def test_a_time_boxed_run_stops_and_the_next_one_resumes(seeded, tmp_path):
    ticks = iter(range(0, 10_000))
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))

    partial = _job(
        seeded,
        tmp_path,
        time_box_seconds=12,
        monotonic=lambda: float(next(ticks)),
        batch_rows=20,
        orders_per_archive=10,
    ).run()
    assert not partial.complete
    assert _keys(seeded, orders.c.order_key.like("OLDX%")) != []

    _job(seeded, tmp_path, batch_rows=20, orders_per_archive=10).run()
    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == []
    assert sorted(_archived(tmp_path)) == old


def test_every_transaction_holds_at_most_the_batch_of_rows(seeded, tmp_path):
    store = SqlRetentionStore(seeded)
    sizes: list[int] = []

    class Counting:
        def __getattr__(self, name):
            return getattr(store, name)

        def delete_orders(self, keys):
            counts = store.delete_orders(keys)
            sizes.append(sum(counts.values()))
            return counts

        def apply_after_verdict(self, rule, keys):
            rows = store.apply_after_verdict(rule, keys)
            sizes.append(rows)
            return rows

    _job(seeded, tmp_path, store=Counting(), lease=store, batch_rows=40).run()

    assert sizes and max(sizes) <= 40
    assert _keys(seeded, orders.c.order_key.like("OLDX%")) == []


def test_plan_counts_what_a_run_then_does(seeded, tmp_path):
    job = _job(seeded, tmp_path)
    plan = job.plan()
    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    kept = _keys(seeded, orders.c.order_key.like("BLKD%") & orders.c.status.in_(("QUORUM_MET", "NO_QUORUM", "FAILED")))

    assert plan["orders"]["eligible"] == len(old) + len(kept)
    assert plan["orders"]["oldest"].startswith("2021-02-19")
    result = job.run()
    # The day with orders in flight stays whole: its terminal orders are the backlog the alarm watches.
    assert result.backlog["orders"] == len(kept) and result.backlog["party_artifacts"] == 0
    assert json.dumps(plan)  # the CLI prints it as JSON


def test_the_analytics_export_still_has_every_purged_order(seeded, tmp_path):
    import pyarrow.parquet as pq

    from chalicelib.adapters.db.analytics import SqlAnalyticsStore
    from chalicelib.adapters.parquet import parquet_bytes
    from chalicelib.services.analytics_export import AnalyticsExport

    def export(full: bool, at: datetime) -> None:
        AnalyticsExport(
            SqlAnalyticsStore(seeded),
            LocalObjectStore(tmp_path / "analytics"),
            parquet_bytes,
            lambda: b"k",
            FixedClock(at),
            lag_seconds=0,
        ).run(full=full)

    def exported() -> set[str]:
        files = sorted((tmp_path / "analytics" / "fact_orders").glob("dt=*/*.parquet"))
        return {k for f in files for k in pq.read_table(f).column("order_key").to_pylist()}

    export(True, NOW - timedelta(hours=1))  # sets the watermark the purge waits for
    everything = set(_keys(seeded))
    assert exported() == everything

    result = _job(seeded, tmp_path).run()
    assert result.archived_orders > 0
    export(False, NOW + timedelta(hours=1))  # the next hourly run
    assert exported() == everything
    export(True, NOW + timedelta(hours=2))  # and a full rewrite
    assert exported() == everything


def test_two_jobs_started_on_two_threads_at_the_same_instant_do_the_work_once(seeded, tmp_path):
    import threading

    old = _keys(seeded, orders.c.order_key.like("OLDX%"))
    store = SqlRetentionStore(seeded)
    together = threading.Barrier(2)

    class Racing:
        """Both runs ask for the (not yet existing) lease row at the same moment."""

        waited = False

        def acquire_lease(self, *args):
            if not self.waited:  # each run's first call only
                self.waited = True
                together.wait(timeout=10)
            return store.acquire_lease(*args)

        def release_lease(self, *args):
            return store.release_lease(*args)

    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(_job(seeded, tmp_path, lease=Racing()).run())) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert sorted(r.ran for r in results) == [False, True]
    assert sum(r.archived_orders for r in results) == len(old)
    assert sorted(_archived(tmp_path)) == old
