"""The delivery repository's contract suite, on the in-memory fake, an SQLite file and the real MariaDB:
attempts, leases, once-only give-up."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib.adapters.db.deliveries import SqlDeliveryRepository
from chalicelib.services.delivery import ClaimRequest, ClaimState, Settlement
from chalicelib.services.ports import NotificationCap
from tests.fakes import InMemoryDeliveryRepository
from tests.integration.test_repository import T0, create, public_methods


@pytest.fixture()
def order_key(repo) -> str:
    draft, _ = create(repo)
    return draft.order_key


@pytest.fixture()
def store(backend, repo) -> SqlDeliveryRepository | InMemoryDeliveryRepository:
    return InMemoryDeliveryRepository(repo) if backend is None else SqlDeliveryRepository(backend)


def test_the_fake_has_the_real_repositorys_methods_with_the_same_signatures():
    real, fake = public_methods(SqlDeliveryRepository), public_methods(InMemoryDeliveryRepository)

    assert {name: str(sig) for name, sig in fake.items()} == {name: str(sig) for name, sig in real.items()}


def claim(store, key, now=T0, lease=30.0, channel="WEBHOOK"):
    [taken] = store.claim_many([ClaimRequest(key, channel, "WEBHOOK", "http://127.0.0.1:9100/hooks")], now, lease)
    return taken


def failed(key, error, at=T0, history_detail=None, channel="WEBHOOK"):
    return Settlement(key, channel, at, False, error=error, history_detail=history_detail)


def test_each_claim_after_a_failure_counts_one_more_attempt(store, order_key):
    first = claim(store, order_key)
    store.settle(failed(order_key, "HTTP 500"))
    second = claim(store, order_key, now=T0 + timedelta(seconds=5))
    assert (first.state, first.attempts, second.state, second.attempts) == (
        ClaimState.CLAIMED,
        1,
        ClaimState.CLAIMED,
        2,
    )
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
    store.settle(Settlement(order_key, "WEBHOOK", T0 + timedelta(seconds=1), True, message_id="evt_x"))
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


def test_giving_up_writes_one_history_row_under_the_current_status(store, repo, order_key):
    claim(store, order_key)
    before = len(repo.history(order_key))
    store.settle(failed(order_key, "HTTP 500", history_detail="entrega falhou após 5 tentativa(s): webhook"))
    store.settle(failed(order_key, "HTTP 500", history_detail="de novo"))
    history = repo.history(order_key)
    assert len(history) == before + 1
    assert [h.detail for h in history][-1] == "entrega falhou após 5 tentativa(s): webhook"
    assert history[-1].status.value == "RECEIVED"
    assert store.for_order(order_key)[0]["status"] == "FAILED"


def test_one_claim_call_takes_new_and_lapsed_channels_and_leaves_delivered_leased_and_repeated_ones(store, order_key):
    claim(store, order_key, channel="DONE")
    store.settle(Settlement(order_key, "DONE", T0, True))
    claim(store, order_key, channel="LEASED", lease=60)
    claim(store, order_key, channel="LAPSED", lease=5)
    requests = [
        ClaimRequest(order_key, channel, "NOTIFICATION", None) for channel in ("NEW", "DONE", "LEASED", "LAPSED", "NEW")
    ]

    claims = store.claim_many(requests, T0 + timedelta(seconds=10), 30)

    assert [(c.state, c.attempts) for c in claims] == [
        (ClaimState.CLAIMED, 1),
        (ClaimState.DELIVERED, 1),
        (ClaimState.BUSY, 1),
        (ClaimState.CLAIMED, 2),
        (ClaimState.BUSY, 1),
    ]
    assert claims[2].lease_until == T0 + timedelta(seconds=60)
    rows = {r["channel"]: r for r in store.for_order(order_key)}
    assert (rows["NEW"]["attempts"], rows["LAPSED"]["attempts"], rows["LEASED"]["attempts"]) == (1, 2, 1)


def test_settlements_made_together_are_each_committed_before_their_caller_goes_on(store, order_key):
    channels = [f"EMAIL:{n:011d}" for n in range(8)]
    for channel in channels:
        claim(store, order_key, channel=channel)
    barrier = threading.Barrier(len(channels))
    seen = {}

    def deliver(channel: str) -> None:
        barrier.wait()
        store.settle(Settlement(order_key, channel, T0 + timedelta(seconds=1), True, message_id=channel))
        seen[channel] = next(r["status"] for r in store.for_order(order_key) if r["channel"] == channel)

    threads = [threading.Thread(target=deliver, args=(channel,)) for channel in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {channel: "DELIVERED" for channel in channels}
    assert {r["channel"]: r["message_id"] for r in store.for_order(order_key)} == {c: c for c in channels}


# -- the notification cap: per recipient (CPF) and channel, within a window ------------------------------

CAP = NotificationCap(limit=2, window_seconds=3600)
CPF = "52998224725"


def notify(store, key, now=T0, channel="EMAIL", cap=CAP):
    [taken] = store.claim_many([ClaimRequest(key, f"{channel}:{CPF}", "NOTIFICATION", CPF)], now, 30.0, cap=cap)
    return taken


def test_contract_notifications_beyond_the_cap_are_recorded_suppressed(store, repo):
    keys = [create(repo)[0].order_key for _ in range(4)]
    states = [notify(store, key, now=T0 + timedelta(seconds=i)).state for i, key in enumerate(keys)]
    assert states == [ClaimState.CLAIMED, ClaimState.CLAIMED, ClaimState.SUPPRESSED, ClaimState.SUPPRESSED]
    [row] = store.for_order(keys[2])
    assert row["status"] == "SUPPRESSED" and row["attempts"] == 0 and row["delivered_at"] is None
    assert row["last_error"].startswith("suprimida") and row["target"] == CPF
    # A suppressed channel stays suppressed when its event comes again: never sent later.
    assert notify(store, keys[2], now=T0 + timedelta(hours=5)).state == ClaimState.SUPPRESSED


def test_contract_the_cap_is_per_channel_and_counts_only_the_window(store, repo):
    keys = [create(repo)[0].order_key for _ in range(4)]
    for key in keys[:2]:
        assert notify(store, key).state == ClaimState.CLAIMED
    assert notify(store, keys[2], channel="SMS").state == ClaimState.CLAIMED  # another medium, its own count
    assert notify(store, keys[3], now=T0 + timedelta(seconds=3601)).state == ClaimState.CLAIMED  # window moved


def test_contract_within_one_batch_the_cap_counts_earlier_requests(store, repo):
    keys = sorted(create(repo)[0].order_key for _ in range(3))
    requests = [ClaimRequest(key, f"EMAIL:{CPF}", "NOTIFICATION", CPF) for key in keys]
    states = [c.state for c in store.claim_many(requests, T0, 30.0, cap=CAP)]
    assert states == [ClaimState.CLAIMED, ClaimState.CLAIMED, ClaimState.SUPPRESSED]


def test_contract_given_up_notifications_do_not_count_and_webhooks_are_never_capped(store, repo):
    keys = [create(repo)[0].order_key for _ in range(4)]
    notify(store, keys[0])
    store.settle(failed(keys[0], "Notificação 503", history_detail="desistiu", channel=f"EMAIL:{CPF}"))
    assert [notify(store, key).state for key in keys[1:3]] == [ClaimState.CLAIMED, ClaimState.CLAIMED]
    webhook = store.claim_many([ClaimRequest(keys[3], "WEBHOOK", "WEBHOOK", "https://x")], T0, 30.0, cap=CAP)
    assert [c.state for c in webhook] == [ClaimState.CLAIMED]


def test_contract_two_batches_notifying_the_same_person_at_once_stay_within_the_cap(store, repo, backend, monkeypatch):
    """Two consumers claim at the same instant for one person with no notification yet. Each SQL claim waits
    (up to 0.5 s) after counting for the other to have counted too: without the recipient's lock both would
    count 0 and together pass the cap; with it the second counts only once the first has committed."""
    keys = sorted(create(repo)[0].order_key for _ in range(6))
    batches = [keys[:3], keys[3:]]
    start, counted = threading.Barrier(2), threading.Barrier(2, timeout=0.5)
    results: list[list[ClaimState]] = [[], []]
    if backend is not None:
        from chalicelib.adapters.db import deliveries

        over, waited = deliveries._over, threading.local()

        def over_after_both_counted(cap, request, sent):
            if not getattr(waited, "done", False):
                waited.done = True
                try:
                    counted.wait()
                except threading.BrokenBarrierError:
                    pass  # the other claim is held behind this one's lock: as it should be
            return over(cap, request, sent)

        monkeypatch.setattr(deliveries, "_over", over_after_both_counted)

    def claim_batch(i: int) -> None:
        requests = [ClaimRequest(key, f"EMAIL:{CPF}", "NOTIFICATION", CPF) for key in batches[i]]
        start.wait()
        results[i] = [c.state for c in store.claim_many(requests, T0, 30.0, cap=CAP)]

    threads = [threading.Thread(target=claim_batch, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    states = results[0] + results[1]
    assert len(states) == 6
    assert states.count(ClaimState.CLAIMED) == CAP.limit
    assert states.count(ClaimState.SUPPRESSED) == 6 - CAP.limit
