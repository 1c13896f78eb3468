"""The retention store contract: the same purge scenarios over the in-memory fake, SQLite and MariaDB, so the
fake (tests/fakes.py InMemoryRetentionStore) cannot drift from the SQL store."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ame_local.analytics_seed import TABLES, _order_rows
from chalicelib.adapters.db.retention import SqlRetentionStore
from chalicelib.adapters.db.schema import analytics_watermarks, order_participants, orders, party_artifacts
from chalicelib.adapters.object_store import LocalObjectStore
from chalicelib.domain.retention import TERMINAL, RetentionPolicy, decode_archive
from chalicelib.services.retention import RetentionJob
from tests.fakes import FixedClock, InMemoryRetentionStore
from tests.integration.conftest import clear

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_FAKE_NAMES = {
    "parties": "parties",
    "participants": "participants",
    "rules": "rules",
    "history": "history",
    "calls": "partner_calls",
}


def _aware(row: dict) -> dict:
    return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in row.items()}


class Backend:
    def __init__(self, engine):
        self.engine = engine
        self.fake = InMemoryRetentionStore() if engine is None else None
        self.store = self.fake or SqlRetentionStore(engine)

    def seed(self, n: int, first_day: date, prefix: str, in_flight: bool, seed: int) -> None:
        for chunk in _order_rows(n, first_day, 1, random.Random(seed), prefix, in_flight):
            if self.fake is not None:
                for row in chunk["orders"]:
                    self.fake.orders[row["order_key"]] = _aware(row)
                for name, fake_name in _FAKE_NAMES.items():
                    self.fake.children[fake_name] += [_aware(r) for r in chunk[name]]
                continue
            with self.engine.begin() as conn:
                for name, table in TABLES:
                    if chunk[name]:
                        conn.execute(table.insert(), chunk[name])

    def artifacts(self, keys: list[str], at: datetime) -> None:
        rows = [{"order_key": k, "position": 0, "kind": "powers", "payload": "{}", "updated_at": at} for k in keys]
        if self.fake is not None:
            self.fake.children["artifacts"] += rows
        else:
            with self.engine.begin() as conn:
                conn.execute(party_artifacts.insert(), [{**r, "updated_at": at.replace(tzinfo=None)} for r in rows])

    def watermark(self, at: datetime) -> None:
        if self.fake is not None:
            self.fake.watermark = at
            return
        with self.engine.begin() as conn:
            naive = at.replace(tzinfo=None)
            conn.execute(
                analytics_watermarks.insert().values(name="export_analytics", high_water=naive, updated_at=naive)
            )

    def keys(self, prefix: str, terminal: bool | None = None) -> list[str]:
        if self.fake is not None:
            rows = [(k, o["status"]) for k, o in self.fake.orders.items()]
        else:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(orders.c.order_key, orders.c.status)).all()
        return sorted(k for k, s in rows if k.startswith(prefix) and (terminal is None or (s in TERMINAL) == terminal))

    def contacts(self, keys: list[str]) -> list[tuple]:
        if self.fake is not None:
            return sorted(
                (r["email"], r["phone"]) for r in self.fake.children["participants"] if r["order_key"] in keys
            )
        with self.engine.connect() as conn:
            p = order_participants
            return sorted(conn.execute(sa.select(p.c.email, p.c.phone).where(p.c.order_key.in_(keys))).all())

    def artifact_count(self, keys: list[str]) -> int:
        if self.fake is not None:
            return sum(1 for r in self.fake.children["artifacts"] if r["order_key"] in keys)
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(party_artifacts).where(party_artifacts.c.order_key.in_(keys))
            ).scalar()


@pytest.fixture()
def world(backend):
    if backend is not None:
        clear(backend)
    b = Backend(backend)
    b.seed(30, date(2021, 3, 1), "OLDA", in_flight=False, seed=1)
    b.seed(30, date(2021, 3, 2), "OLDB", in_flight=False, seed=2)
    b.seed(40, date(2021, 2, 1), "BLKD", in_flight=True, seed=3)
    b.seed(40, date(2026, 10, 1), "RCNT", in_flight=True, seed=4)
    b.artifacts(b.keys("RCNT"), datetime(2026, 10, 2, tzinfo=UTC))
    b.watermark(NOW - timedelta(hours=1))
    return b


def _job(b: Backend, tmp_path, store=None) -> RetentionJob:
    return RetentionJob(
        store or b.store,
        b.store,
        LocalObjectStore(tmp_path),
        FixedClock(NOW),
        RetentionPolicy(),
        pause_seconds=0,
        batch_rows=50,
        orders_per_archive=20,
    )


def _archived(tmp_path) -> list[str]:
    store = LocalObjectStore(tmp_path)
    return sorted(r["order"]["order_key"] for k in store.keys("orders/") for r in decode_archive(store.get(k)))


def test_the_plan_and_the_run_agree_on_every_backend(world, tmp_path):
    old = world.keys("OLD")
    flying = world.keys("", terminal=False)
    recent_done = world.keys("RCNT", terminal=True)
    kept = world.keys("BLKD", terminal=True)

    plan = _job(world, tmp_path).plan()
    assert plan["orders"]["eligible"] == len(old) + len(kept)
    assert plan["party_artifacts"]["eligible"] == len(recent_done)

    result = _job(world, tmp_path).run()

    assert result.complete and result.archived_orders == len(old) and result.archive_objects == 4
    assert _archived(tmp_path) == old
    assert world.keys("OLD") == [] and set(flying) <= set(world.keys(""))
    assert len(world.keys("BLKD")) == 40  # a day with orders in flight stays whole
    assert world.artifact_count(recent_done) == 0 and world.artifact_count(world.keys("RCNT", False)) > 0
    assert world.contacts(recent_done) and set(world.contacts(recent_done)) == {(None, None)}
    assert all(world.store.archived_object(k) for k in old)
    assert result.backlog["orders"] == len(kept)


class _Killed:
    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def delete_orders(self, keys):
        raise SystemExit("killed")


def test_a_killed_run_is_finished_by_the_next_on_every_backend(world, tmp_path):
    old = world.keys("OLD")
    with pytest.raises(SystemExit):
        _job(world, tmp_path, store=_Killed(world.store)).run()
    assert world.keys("OLD") == old and len(world.store.pending_archives()) == 1

    _job(world, tmp_path).run()

    assert world.keys("OLD") == [] and _archived(tmp_path) == old
    assert world.store.pending_archives() == []
