"""The operations report over fakes: breaker gauges from the shared breaker store, backlog gauges, ages."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

from chalicelib import observability as obs
from chalicelib.adapters.breaker import InProcessBreakerStore
from chalicelib.bootstrap import SharedBreakerStates
from chalicelib.services.operations_report import OperationsReport
from tests.fakes import FixedClock


class Backlog:
    def __init__(self, parked, oldest):
        self.answer = (parked, oldest)

    def parked_backlog(self):
        return self.answer


def _run(report):
    seen = {}
    remove = obs.add_metric_observer(lambda name, value, unit, dims: seen.update({(name, dims.get("partner")): value}))
    try:
        return report.run(), seen
    finally:
        remove()


def test_an_open_breaker_in_the_shared_store_is_reported_open_until_its_time_is_up():
    store = InProcessBreakerStore()
    owner = SimpleNamespace(breaker_store=store, breakers={"poderes": object(), "pessoas": object()})
    store.open("poderes", time.time() + 60)
    assert SharedBreakerStates(owner).open_partners() == {"poderes": True, "pessoas": False}
    store.open("poderes", time.time() - 1)  # half-open: the next call probes
    assert SharedBreakerStates(owner).open_partners() == {"poderes": False, "pessoas": False}


def test_no_parked_order_is_a_zero_backlog_of_age_zero_and_every_run_emits_the_gauges():
    clock = FixedClock()
    breakers = SimpleNamespace(open_partners=lambda: {"cadastro": False})
    result, seen = _run(OperationsReport(Backlog(0, None), breakers, clock))
    assert result == {"parked": 0, "oldest_parked_age_s": 0, "breakers_open": 0}
    assert seen == {
        (obs.METRIC_BREAKER_OPEN, "cadastro"): 0,
        (obs.METRIC_PARKED_ORDERS, None): 0,
        (obs.METRIC_OLDEST_PARKED_AGE, None): 0,
    }
    result, seen = _run(OperationsReport(Backlog(7, clock.now() - timedelta(minutes=90)), breakers, clock))
    assert result["oldest_parked_age_s"] == 5400 and seen[(obs.METRIC_PARKED_ORDERS, None)] == 7
