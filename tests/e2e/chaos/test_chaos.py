"""The chaos suite: 300 orders while partners fail, Poderes goes down, SQS repeats messages
and Lambda workers die. Faults change timing, never verdicts, and nothing is lost or done twice."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from tests.e2e.chaos.harness import TERMINAL, Outcome, expected_channels

# The first test also pays for the package's run (tests/e2e/chaos/conftest.py): more than pytest.ini's 300 s
# may pass when the machine is busy.
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


class ChaosCounts(UserWarning):
    """Not a problem: the chaos run's counts, raised as a warning so `make test` (xdist) shows them."""


def test_every_accepted_order_reaches_a_terminal_status(outcome: Outcome):
    assert len(outcome.run.submitted) == outcome.chaos.plan.orders
    assert set(outcome.run.terminal) == outcome.accepted_keys
    assert all(o["status"] in TERMINAL for o in outcome.final.values())


def test_each_order_ends_with_the_verdict_its_scenarios_call_for(outcome: Outcome):
    wrong = {}
    for s in outcome.run.submitted:
        order = outcome.final[s.order_key]
        reasons = [p["reason"] for p in (order["result"] or {}).get("parties", [])]
        if order["status"] != s.planned.expected_status or reasons != s.planned.expected_reasons:
            wrong[s.order_key] = (
                s.planned.requester,
                s.planned.guarantors,
                order["status"],
                reasons,
                order.get("status_detail"),
            )
    assert not wrong, f"{len(wrong)} orders with the wrong verdict, e.g. {list(wrong.values())[:3]}"
    # The re-drive budget (an hour) outlives the run: FAILED could only be a bug.
    assert outcome.figures.per_status.get("FAILED", 0) == 0


def test_idempotent_retries_create_no_extra_order(outcome: Outcome):
    assert outcome.orders_in_db == len(outcome.accepted_keys) == outcome.chaos.plan.orders
    keyed = [s for s in outcome.run.submitted if s.planned.idempotency_key]
    assert keyed and all(s.replay_key == s.order_key for s in keyed)


def test_each_expected_signer_is_notified_once_per_channel(outcome: Outcome):
    ids = [n["notification_id"] for n in outcome.notifications]
    assert len(ids) == len(set(ids))
    sent = Counter(tuple(i.split(":")) for i in ids)  # (order_key, cpf, channel)
    expected = Counter(
        (s.order_key, cpf, channel)
        for s in outcome.run.submitted
        for cpf, channel in expected_channels(outcome.chaos, s.planned)
    )
    assert expected and sent == expected


def test_each_order_with_quorum_goes_once_to_the_envelope_ready_queue(outcome: Outcome):
    with_quorum = {k for k, o in outcome.final.items() if o["status"] == "QUORUM_MET"}
    assert with_quorum and outcome.envelope_ready == Counter({k: 1 for k in with_quorum})


def test_each_event_reaches_the_product_webhook_once(outcome: Outcome):
    accepted = [r for r in outcome.webhooks if isinstance(r.answered, int) and 200 <= r.answered < 300]
    assert all(r.verified for r in outcome.webhooks)
    by_id = Counter(r.webhook_id for r in accepted)
    assert by_id == Counter({f"evt_{k}": 1 for k in outcome.accepted_keys})
    assert all(o["deliveries"]["webhook"]["status"] == "DELIVERED" for o in outcome.final.values())


def test_dead_letter_queues_hold_only_the_deliveries_given_up(outcome: Outcome):
    # A notification failing all 5 receives of its event is given up and dead-lettered (about 1 in 1,000
    # channels at 25 % failures); nothing else may reach a DLQ.
    assert outcome.dead_letters["creation"] == [] and outcome.dead_letters["envelope_ready"] == []
    assert sorted(outcome.dead_letters["result"]) == sorted(outcome.given_up)
    assert len(outcome.replayed) == len(outcome.given_up)
    depths = outcome.depths_at_end
    assert all(depths[q] == 0 for q in depths), depths
    assert not any(_given_up(o) for o in outcome.final.values())


def test_the_chaos_really_happened_and_its_counts_are_printed(outcome: Outcome):
    f = outcome.figures
    kinds = Counter(when for _, _, when in f.crashes_injected)
    assert kinds["before"] >= 1 and kinds["after"] >= 1
    assert f.duplicates_injected["creation"] >= 1 and f.duplicates_injected["result"] >= 1
    assert f.parked_orders >= 1 and outcome.run.poderes_down is not None
    assert f.breaker_openings["poderes"] >= 1
    assert sum(f.task_errors.values()) > len(f.crashes_injected)  # partner faults reached the workflow too
    text = "\n".join(["chaos run:", *outcome.counts()])
    print(text)
    warnings.warn(ChaosCounts(text))


def _given_up(order: dict) -> bool:
    deliveries = order["deliveries"] or {}
    items = [deliveries.get("webhook"), deliveries.get("envelope_ready"), *(deliveries.get("notifications") or [])]
    return any(i is not None and i["status"] != "DELIVERED" for i in items)
