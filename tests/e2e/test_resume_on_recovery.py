"""Resume on recovery, end to end: orders parked while Poderes is down reach their verdicts within seconds
of its return, long before their re-drive backoff (60 s ± 20 %) would bring them back.

Outside tests/e2e/chaos on purpose: that package keeps its 300-order stack running in this process until
its last test, and two in-process stacks cannot share the process environment."""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.e2e.chaos.harness import RECOVERY_ENV, chaos_stack, recovery_plan, run_recovery

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(600)]

ORDERS = 12


def test_orders_parked_on_a_partner_resume_when_it_returns_not_when_the_backoff_says(tmp_path):
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):  # chalice.local's request lines
        with chaos_stack(tmp_path, recovery_plan(ORDERS), RECOVERY_ENV) as chaos:
            run = run_recovery(chaos)

    assert len(run.terminal) == ORDERS
    expected = {s.order_key: s.planned.expected_status for s in run.submitted}
    assert {k: o["status"] for k, o in run.terminal.items()} == expected
    # The backoff's first re-drive is due 48 s after parking at the soonest: a verdict well before that
    # came from the resume (run_recovery gives up at 45 s). Generous on a loaded 2-core machine.
    assert run.last_verdict_after_return_s < 30, run.lines()
    assert run.resumed_by_backoff == 0  # each order re-driven once, by the recovery
    assert run.peak_poderes_per_second > 0
