"""The per-partner circuit breaker: opens on a failure rate, fails fast, half-opens to probe."""

import pytest

from chalicelib.adapters.breaker import (
    BreakerGuarded,
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpen,
    InProcessBreakerStore,
)
from chalicelib.services.ports import PartnerRejected, PartnerUnavailable

POLICY = BreakerPolicy(failure_rate=0.5, min_calls=4, window_seconds=10, buckets=5, open_seconds=5)


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


class Partner:
    def __init__(self):
        self.calls = 0
        self.fail_with = None

    def get(self, x):
        self.calls += 1
        if self.fail_with:
            raise self.fail_with
        return x


def guarded(store=None, clock=None):
    clock = clock or Clock()
    partner = Partner()
    states = []
    breaker = CircuitBreaker(
        "poderes", store or InProcessBreakerStore(), POLICY, clock, on_state=lambda p, is_open: states.append(is_open)
    )
    return BreakerGuarded(partner, breaker), partner, clock, breaker, states


def fail_times(client, partner, n):
    partner.fail_with = PartnerUnavailable("poderes", "503")
    for _ in range(n):
        with pytest.raises(PartnerUnavailable):
            client.get(1)


def test_successful_calls_pass_through():
    client, partner, *_ = guarded()
    assert client.get(42) == 42 and partner.calls == 1


def test_opens_at_the_failure_rate_and_then_fails_fast_without_calling():
    client, partner, clock, breaker, states = guarded()
    partner.fail_with = None
    client.get(1)
    client.get(1)
    fail_times(client, partner, 2)  # 2 of 4 failed: 50 %
    assert states == [True] and breaker.openings == 1
    calls = partner.calls
    with pytest.raises(CircuitOpen):
        client.get(1)
    assert partner.calls == calls


def test_too_few_calls_never_open_it():
    client, partner, *_ = guarded()
    fail_times(client, partner, 3)
    partner.fail_with = None
    assert client.get(7) == 7


def test_permanent_errors_do_not_count_as_failures():
    client, partner, *_, breaker, _states = guarded()
    partner.fail_with = PartnerRejected("poderes", "400")
    for _ in range(10):
        with pytest.raises(PartnerRejected):
            client.get(1)
    assert breaker.openings == 0


def test_half_open_probe_success_closes_and_failure_reopens():
    client, partner, clock, breaker, states = guarded()
    fail_times(client, partner, 4)
    clock.now += POLICY.open_seconds + 0.1
    fail_times(client, partner, 1)  # the probe fails: open again
    assert breaker.openings == 2
    with pytest.raises(CircuitOpen):
        client.get(1)
    clock.now += POLICY.open_seconds + 0.1
    partner.fail_with = None
    assert client.get(5) == 5  # probe succeeds
    assert states[-1] is False
    assert client.get(6) == 6


def test_only_one_probe_at_a_time_while_half_open():
    store = InProcessBreakerStore()
    client, partner, clock, breaker, _ = guarded(store)
    fail_times(client, partner, 4)
    clock.now += POLICY.open_seconds + 0.1
    assert store.try_probe("poderes", clock.now, POLICY.open_seconds)  # another instance is probing
    with pytest.raises(CircuitOpen):
        client.get(1)


def test_old_failures_leave_the_window():
    client, partner, clock, breaker, _ = guarded()
    fail_times(client, partner, 3)
    clock.now += POLICY.window_seconds + 1
    partner.fail_with = None
    for _ in range(3):
        client.get(1)
    fail_times(client, partner, 1)  # 1 of 4 in the window: 25 %
    assert breaker.openings == 0
