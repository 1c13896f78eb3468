"""Try again later and the sweeper (services/redrive.py) over the in-memory repository, whose rules the
contract suite (tests/integration/test_repository.py) keeps equal to the SQL adapter's."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from chalicelib.domain.orders import OrderStatus
from chalicelib.services.launch import parse_creation_message
from chalicelib.services.redrive import Redrive, RedrivePolicy
from chalicelib.services.workflow import EnvelopeWorkflow
from tests.fakes import (
    FakeOperators,
    FakePeople,
    FakePowers,
    FakeStarter,
    FixedClock,
    InMemoryOrderRepository,
    RecordingQueue,
)
from tests.integration.test_repository import make_draft, make_outbox

POLICY = RedrivePolicy(
    base_seconds=60,
    max_interval_seconds=3600,
    max_total_seconds=86400,
    stuck_after_seconds=900,
    grace_seconds=120,
    jitter=0.0,
)
PARTNER_DOWN = {"Error": "PartnerUnavailable", "Cause": json.dumps({"errorMessage": "poderes: HTTP 503"})}


class World:
    def __init__(self, policy: RedrivePolicy = POLICY) -> None:
        self.repo, self.queue, self.clock = InMemoryOrderRepository(), RecordingQueue(), FixedClock()
        self.starter = FakeStarter()
        workflow = EnvelopeWorkflow(self.repo, FakePowers(), FakePeople(), FakeOperators(), self.queue, self.clock)
        self.redrive = Redrive(self.repo, self.queue, self.starter, workflow, self.clock, policy, rng=random.Random(7))

    def order(self, execution: str | None = "exec-1") -> str:
        """A new order, claimed by `execution` (None: left RECEIVED)."""
        draft = make_draft(created_at=self.clock.now())
        message = make_outbox(draft)
        self.repo.create_order(draft, message)
        self.repo.mark_outbox_published([message.message_id], self.clock.now())
        if execution is not None:
            self.repo.claim(draft.order_key, execution, self.clock.now())
        return draft.order_key

    def creations(self) -> list[tuple[str, int, int]]:
        """(order_key, attempt, delay) of each creation message sent."""
        return [
            (m.order_key, m.attempt, delay)
            for (queue, body), delay in zip(self.queue.sent, self.queue.delays)
            if queue == "creation"
            for m in [parse_creation_message(body)]
        ]


@pytest.fixture()
def world() -> World:
    return World()


# -- park: try again later ------------------------------------------------------------------------------


def test_parking_lets_go_of_the_order_and_sends_the_redrive_with_the_first_interval(world):
    key = world.order()
    now = world.clock.now()

    outcome = world.redrive.park(key, "exec-1", PARTNER_DOWN)

    order = world.repo.get_order(key)
    assert outcome == {
        "order_key": key,
        "outcome": "PARKED",
        "attempt": 1,
        "next_attempt_at": (now + timedelta(seconds=60)).isoformat(),
    }
    assert order.parked and order.redrive_count == 1 and order.first_failure_at == now
    assert "aguardando parceiro (PartnerUnavailable: poderes: HTTP 503); nova tentativa 1" in order.status_detail
    assert world.creations() == [(key, 1, 60)]
    # the sweeper resends only if nobody claims it within the grace period
    assert order.next_attempt_at == now + timedelta(seconds=60 + 120)


def test_each_redrive_waits_twice_as_long_up_to_the_cap_and_past_the_queue_delay_the_sweeper_sends_it(world):
    key = world.order()
    waits = []
    for attempt in range(1, 8):
        world.redrive.park(key, f"exec-{attempt}", PARTNER_DOWN)
        order = world.repo.get_order(key)
        waits.append(world.creations()[-1][2] if len(world.creations()) == attempt else None)
        world.clock.advance(1)
        assert world.repo.claim(key, f"exec-{attempt + 1}", world.clock.now()).value == "CLAIMED"
        assert order.redrive_count == attempt

    # 60, 120, 240, 480 s travel as SQS delays; 960 s and more exceed SQS's 900 s, so no message is sent
    assert waits == [60, 120, 240, 480, None, None, None]
    assert [a for _, a, _ in world.creations()] == [1, 2, 3, 4]


def test_the_interval_is_capped(world):
    world = World(RedrivePolicy(base_seconds=60, max_interval_seconds=100, jitter=0.0))
    key = world.order()
    for attempt in range(1, 4):
        world.redrive.park(key, f"exec-{attempt}", PARTNER_DOWN)
        world.repo.claim(key, f"exec-{attempt + 1}", world.clock.now())
    assert [delay for _, _, delay in world.creations()] == [60, 100, 100]


def test_only_the_owning_execution_parks_the_order(world):
    key = world.order("exec-1")

    assert world.redrive.park(key, "exec-2", PARTNER_DOWN) == {"order_key": key, "outcome": "NOT_OWNER"}
    assert world.redrive.park("no-such-order", "exec-1", PARTNER_DOWN)["outcome"] == "NOT_OWNER"

    order = world.repo.get_order(key)
    assert (order.processing_by, order.redrive_count) == ("exec-1", 0)
    assert world.creations() == []


def test_past_the_total_budget_the_order_fails_with_the_reason(world):
    world = World(RedrivePolicy(base_seconds=60, max_total_seconds=300, jitter=0.0))
    key = world.order()
    world.redrive.park(key, "exec-1", PARTNER_DOWN)  # first failure now; waits 60 s
    world.clock.advance(250)
    world.repo.claim(key, "exec-2", world.clock.now())

    outcome = world.redrive.park(key, "exec-2", PARTNER_DOWN)  # 250 s waited + 120 s more > 300 s

    order = world.repo.get_order(key)
    assert outcome == {"order_key": key, "outcome": "FAILED"}
    assert order.status is OrderStatus.FAILED
    assert "parceiro indisponível por 250s, além do limite de 300s" in order.status_detail
    assert [m.queue for m in world.repo.pending_outbox_for(key)] == ["result"]
    assert len(world.creations()) == 1  # only the first park's re-drive


# -- sweep: the safety net ------------------------------------------------------------------------------


def test_the_sweeper_redrives_a_parked_order_once_it_is_due(world):
    key = world.order()
    world.redrive.park(key, "exec-1", PARTNER_DOWN)  # message sent; next attempt at +60 s, resend at +180 s
    world.clock.advance(179)
    assert world.redrive.sweep() == {"redriven": 0, "released": 0}

    world.clock.advance(1)
    counts = world.redrive.sweep()

    assert counts == {"redriven": 1, "released": 0}
    assert world.creations()[-1] == (key, 2, 0)
    order = world.repo.get_order(key)
    assert (order.redrive_count, order.next_attempt_at) == (2, world.clock.now() + timedelta(seconds=120))
    assert world.redrive.sweep() == {"redriven": 0, "released": 0}  # not again within the grace period


def test_the_sweeper_takes_back_an_order_whose_execution_died_and_redrives_it(world):
    dead = world.order("exec-dead")
    alive = world.order("exec-alive")
    world.starter.running = {"exec-alive"}
    world.clock.advance(901)

    counts = world.redrive.sweep()

    assert counts == {"redriven": 1, "released": 1}
    assert world.creations() == [(dead, 2, 0)]  # released (attempt 1) then re-driven (attempt 2)
    assert world.repo.get_order(dead).parked
    assert world.repo.get_order(alive).processing_by == "exec-alive"
    assert world.repo.history(dead)[-1].detail == "execução interrompida; nova tentativa"


def test_a_recent_execution_is_not_checked(world):
    key = world.order("exec-1")
    world.clock.advance(899)

    assert world.redrive.sweep() == {"redriven": 0, "released": 0}
    assert world.repo.get_order(key).processing_by == "exec-1"


def test_a_received_order_whose_creation_message_was_lost_is_redriven(world):
    lost = world.order(execution=None)  # its creation message was published, then lost
    draft = make_draft(created_at=world.clock.now())
    world.repo.create_order(draft, make_outbox(draft))  # unpublished: the outbox relay's, not the sweeper's
    world.clock.advance(901)

    counts = world.redrive.sweep()

    assert counts == {"redriven": 1, "released": 1}
    assert world.creations() == [(lost, 2, 0)]
    assert world.repo.history(lost)[-1].detail == "mensagem de criação perdida; nova tentativa"
    assert world.repo.get_order(draft.order_key).status is OrderStatus.RECEIVED


def test_the_sweep_limit_bounds_each_pass(world):
    keys = [world.order(f"exec-{i}") for i in range(3)]
    world.clock.advance(901)

    first = world.redrive.sweep(limit=2)
    second = world.redrive.sweep(limit=2)

    assert first == {"redriven": 2, "released": 2}
    assert second == {"redriven": 1, "released": 1}
    assert sorted(k for k, _, _ in world.creations()) == sorted(keys)
