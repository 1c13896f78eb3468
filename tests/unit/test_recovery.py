"""Resume on recovery (services/recovery.py) over the in-memory repository: orders parked on a partner
are re-driven when it is back, at a bounded rate, once each, with the growing interval as the fallback."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from chalicelib.adapters.breaker import BreakerPolicy, CircuitBreaker, InProcessBreakerStore
from chalicelib.services.ports import PartnerRejected, PartnerUnavailable
from chalicelib.services.recovery import PartnerRecovery, ResumePolicy, parked_partner
from tests.unit.test_redrive import World

CIRCUIT_OPEN = {
    "Error": "CircuitOpen",
    "Cause": json.dumps({"errorMessage": "poderes: circuit open; next probe in 3.0s"}),
}
PESSOAS_DOWN = {
    "Error": "PartnerUnavailable",
    "Cause": json.dumps({"errorMessage": "pessoas: server error (HTTP 503)"}),
}


SMALL = ResumePolicy(rate_per_second=2, spread_seconds=3, grace_seconds=120)


class Partner:
    """A probe target: down until told otherwise; counts the calls."""

    def __init__(self, name: str, down: bool = True) -> None:
        self.name, self.down, self.calls = name, down, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.down:
            raise PartnerUnavailable(self.name, "server error", 503)


class RecoveryWorld(World):
    def __init__(self, policy: ResumePolicy = SMALL) -> None:
        super().__init__()
        self.partners = {name: Partner(name) for name in ("poderes", "pessoas", "cadastro")}
        self.recovery = PartnerRecovery(self.repo, self.queue, self.partners, self.clock, policy)

    def parked(self, error: dict = CIRCUIT_OPEN) -> str:
        key = self.order()
        assert self.redrive.park(key, "exec-1", error)["outcome"] == "PARKED"
        return key

    def resumed(self) -> list[tuple[str, int, int]]:
        """Creation messages sent after the parking ones: (order_key, attempt, delay)."""
        return [c for c in self.creations() if c[1] > 1]


@pytest.fixture()
def world() -> RecoveryWorld:
    return RecoveryWorld()


def test_the_parking_failure_names_the_partner_the_order_waits_for(world):
    on_poderes, on_pessoas = world.parked(CIRCUIT_OPEN), world.parked(PESSOAS_DOWN)
    unnamed = world.parked({"Error": "DatabaseUnavailable", "Cause": "lost connection"})

    assert world.repo.get_order(on_poderes).parked_on == "poderes"
    assert world.repo.get_order(on_pessoas).parked_on == "pessoas"
    assert world.repo.get_order(unnamed).parked_on is None
    assert (parked_partner("cadastro: timed out after 3.0s"), parked_partner("parametrizador: x")) == ("cadastro", None)


def test_while_the_partner_is_down_the_probe_resumes_nothing(world):
    key = world.parked()

    assert world.recovery.probe() == {"poderes": "down"}
    assert world.partners["poderes"].calls == 1 and world.partners["pessoas"].calls == 0  # only where orders wait
    assert world.resumed() == [] and world.repo.get_order(key).parked_on == "poderes"


def test_when_the_probe_succeeds_the_parked_orders_are_redriven_at_the_bounded_rate(world):
    keys = sorted(world.parked() for _ in range(7))
    other = world.parked(PESSOAS_DOWN)
    world.partners["poderes"].down = False
    now = world.clock.now()

    assert world.recovery.probe() == {"poderes": 6, "pessoas": "down"}  # rate 2/s × spread 3 s per run

    # two per second, soonest due first (then by key), each under its next attempt number; the sweeper's fallback later
    assert world.resumed() == [(k, 2, delay) for k, delay in zip(keys, [0, 0, 1, 1, 2, 2])]
    assert world.repo.get_order(keys[5]).next_attempt_at == now + timedelta(seconds=2 + 120)
    assert world.repo.parked_on("poderes", 10) == [keys[6]]
    assert world.repo.get_order(other).parked_on == "pessoas"

    assert world.recovery.probe() == {"poderes": 1, "pessoas": "down"}  # the next run takes the rest
    assert world.resumed()[-1] == (keys[6], 2, 0)


def test_a_permanent_answer_to_the_probe_says_the_partner_is_up(world):
    key = world.parked()

    def rejects():
        raise PartnerRejected("poderes", "request rejected", 400)

    world.recovery = PartnerRecovery(world.repo, world.queue, {"poderes": rejects}, world.clock)
    assert world.recovery.probe() == {"poderes": 1}
    assert world.resumed() == [(key, 2, 0)]


def test_two_triggers_at_once_launch_each_order_once(world):
    keys = sorted(world.parked() for _ in range(6))
    world.partners["poderes"].down = False
    barrier = threading.Barrier(2)

    def trigger():
        barrier.wait()
        world.recovery.resume("poderes")

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(k for k, _, _ in world.resumed()) == sorted(keys)
    assert world.recovery.resume("poderes") == 0  # nothing left parked on it
    # positions are the same for both triggers, so together they keep the rate
    assert sorted(d for _, _, d in world.resumed()) == [0, 0, 1, 1, 2, 2]


def test_an_order_claimed_meanwhile_is_not_redriven_again(world):
    claimed, waiting = world.parked(), world.parked()
    world.repo.claim(claimed, "exec-delayed-message", world.clock.now())  # its backoff message came first

    assert world.recovery.resume("poderes") == 1
    assert world.resumed() == [(waiting, 2, 0)]


def test_the_breaker_closing_resumes_one_seconds_worth_and_the_probe_the_rest():
    world = RecoveryWorld(ResumePolicy(rate_per_second=2, spread_seconds=60))
    keys = sorted(world.parked() for _ in range(5))
    clock = [0.0]
    breaker = CircuitBreaker(
        "poderes",
        InProcessBreakerStore(),
        BreakerPolicy(min_calls=1, open_seconds=5),
        clock=lambda: clock[0],
        on_state=lambda partner, is_open: None if is_open else world.recovery.partner_recovered(partner),
    )
    with pytest.raises(PartnerUnavailable):
        breaker.call(world.partners["poderes"])  # opens
    clock[0] = 6.0
    world.partners["poderes"].down = False

    breaker.call(lambda: "ok")  # the half-open probe of a workflow task succeeds: closed

    assert world.resumed() == [(keys[0], 2, 0), (keys[1], 2, 0)]
    world.recovery.probe()
    assert [k for k, _, _ in world.resumed()] == keys


def test_the_probe_goes_through_the_breaker_and_its_closing_does_not_double_the_resume():
    world = RecoveryWorld(ResumePolicy(rate_per_second=2, spread_seconds=60))
    keys = sorted(world.parked() for _ in range(4))
    clock = [0.0]
    closed: list[str] = []

    def on_state(partner: str, is_open: bool) -> None:
        if not is_open:
            closed.append(partner)
            world.recovery.partner_recovered(partner)

    breaker = CircuitBreaker(
        "poderes",
        InProcessBreakerStore(),
        BreakerPolicy(min_calls=1, open_seconds=5),
        clock=lambda: clock[0],
        on_state=on_state,
    )
    partner = world.partners["poderes"]
    probes = {"poderes": lambda: breaker.call(partner)}  # as the composition root builds them
    world.recovery = PartnerRecovery(world.repo, world.queue, probes, world.clock, world.recovery._policy)
    with pytest.raises(PartnerUnavailable):
        breaker.call(partner)  # opens for 5 s
    partner.down = False

    assert world.recovery.probe() == {"poderes": "down"}  # open: the partner is not even called
    assert partner.calls == 1 and world.resumed() == []
    clock[0] = 6.0  # half-open: the probe is the breaker's probe

    assert world.recovery.probe() == {"poderes": 4}

    assert closed == ["poderes"]
    assert world.resumed() == [(k, 2, d) for k, d in zip(keys, [0, 0, 1, 1])]


def test_a_failing_resume_never_breaks_the_call_that_closed_the_breaker(world):
    world.parked()
    world.queue.fail_with = RuntimeError("SQS is away")

    assert world.recovery.partner_recovered("poderes") == 0


def test_the_growing_interval_stays_the_fallback_when_no_probe_succeeds(world):
    key = world.parked()
    world.recovery.probe()
    world.clock.advance(60 + 120)

    assert world.redrive.sweep()["redriven"] == 1
    assert world.creations()[-1][:2] == (key, 2)
