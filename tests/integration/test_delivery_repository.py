"""SqlDeliveryRepository on an SQLite file and the real MariaDB: attempts, leases, once-only give-up."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib.adapters.db.deliveries import SqlDeliveryRepository
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.repository import SqlOrderRepository
from chalicelib.services.delivery import ClaimState
from migrations.runner import upgrade
from tests.integration.test_repository import T0, _clear, create


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'ame.sqlite'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    upgrade(url)
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture()
def order_key(engine) -> str:
    _clear(engine)
    draft, _ = create(SqlOrderRepository(engine))
    return draft.order_key


@pytest.fixture()
def store(engine) -> SqlDeliveryRepository:
    return SqlDeliveryRepository(engine)


def claim(store, key, now=T0, lease=30.0, channel="WEBHOOK"):
    return store.claim(key, channel, kind="WEBHOOK", target="http://127.0.0.1:9100/hooks", now=now,
                       lease_seconds=lease)


def test_each_claim_after_a_failure_counts_one_more_attempt(store, order_key):
    first = claim(store, order_key)
    store.release(order_key, "WEBHOOK", "HTTP 500")
    second = claim(store, order_key, now=T0 + timedelta(seconds=5))
    assert (first.state, first.attempts, second.state, second.attempts) == (
        ClaimState.CLAIMED, 1, ClaimState.CLAIMED, 2)
    [row] = store.for_order(order_key)
    assert row["last_error"] == "HTTP 500" and row["first_attempt_at"] == T0


def test_a_live_lease_makes_another_copy_wait_and_an_expired_one_is_taken_over(store, order_key):
    claim(store, order_key, lease=30)
    busy = claim(store, order_key, now=T0 + timedelta(seconds=10))
    taken = claim(store, order_key, now=T0 + timedelta(seconds=31))
    assert busy.state is ClaimState.BUSY and busy.lease_until == T0 + timedelta(seconds=30)
    assert taken.state is ClaimState.CLAIMED and taken.attempts == 2


def test_a_delivered_channel_is_never_claimed_again(store, order_key):
    claim(store, order_key)
    store.succeed(order_key, "WEBHOOK", T0 + timedelta(seconds=1), "evt_x")
    again = claim(store, order_key, now=T0 + timedelta(hours=1))
    [row] = store.for_order(order_key)
    assert again.state is ClaimState.DELIVERED
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("DELIVERED", 1, T0 + timedelta(seconds=1))


def test_concurrent_copies_claim_a_channel_exactly_once(store, order_key):
    barrier = threading.Barrier(6)
    states = []

    def contend():
        barrier.wait()
        states.append(claim(store, order_key, channel="ENVELOPE_READY").state)

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(states).count(ClaimState.CLAIMED) == 1 and states.count(ClaimState.BUSY) == 5


def test_giving_up_writes_one_history_row_under_the_current_status(store, order_key):
    claim(store, order_key)
    first = store.give_up(order_key, "WEBHOOK", T0, "HTTP 500", "entrega falhou após 5 tentativa(s): webhook")
    second = store.give_up(order_key, "WEBHOOK", T0, "HTTP 500", "de novo")
    history = SqlOrderRepository(store._engine).history(order_key)
    assert (first, second) == (True, False)
    assert [h.detail for h in history][-1] == "entrega falhou após 5 tentativa(s): webhook"
    assert history[-1].status.value == "RECEIVED"
    assert store.for_order(order_key)[0]["status"] == "FAILED"
