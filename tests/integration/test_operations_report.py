"""The operations report on SQLite and MariaDB: the parked backlog query and the gauges it becomes."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import observability as obs
from chalicelib.adapters.db.backlog import SqlParkedBacklog
from chalicelib.adapters.db.repository import SqlOrderRepository
from chalicelib.services.operations_report import OperationsReport
from tests.fakes import FixedClock
from tests.integration.conftest import clear
from tests.integration.test_repository import T1, create


class Breakers:
    def __init__(self, states: dict[str, bool]) -> None:
        self.states = states

    def open_partners(self) -> dict[str, bool]:
        return dict(self.states)


def test_parked_orders_are_counted_and_the_oldest_first_failure_is_reported(engine):
    clear(engine)
    repo = SqlOrderRepository(engine)
    backlog = SqlParkedBacklog(engine)
    assert backlog.parked_backlog() == (0, None)

    keys = []
    for i in range(3):
        draft, _ = create(repo)
        repo.claim(draft.order_key, f"exec-{i}", T1)
        keys.append(draft.order_key)
    busy, _ = create(repo)
    repo.claim(busy.order_key, "exec-busy", T1)  # owned by a running execution: not parked
    assert repo.park(keys[0], "exec-0", T1, "aguardando parceiro", T1 + timedelta(minutes=1))
    assert repo.park(keys[1], "exec-1", T1 + timedelta(minutes=5), "aguardando", T1 + timedelta(minutes=6))
    assert backlog.parked_backlog() == (2, T1)

    assert repo.claim(keys[0], "exec-9", T1 + timedelta(minutes=7)).name == "CLAIMED"  # re-driven: not parked
    assert backlog.parked_backlog() == (1, T1 + timedelta(minutes=5))


def test_the_report_emits_breaker_and_backlog_gauges_every_run(engine):
    clear(engine)
    repo = SqlOrderRepository(engine)
    draft, _ = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    assert repo.park(draft.order_key, "exec-1", T1, "aguardando parceiro", T1 + timedelta(minutes=1))
    seen: list[tuple[str, float, dict[str, str]]] = []
    remove = obs.add_metric_observer(lambda name, value, unit, dims: seen.append((name, value, dict(dims))))
    try:
        report = OperationsReport(
            SqlParkedBacklog(engine),
            Breakers({"poderes": True, "pessoas": False}),
            FixedClock(T1 + timedelta(minutes=61)),
        )
        assert report.run() == {"parked": 1, "oldest_parked_age_s": 3660, "breakers_open": 1}
    finally:
        remove()
    gauges = {(name, dims.get("partner")): value for name, value, dims in seen}
    assert gauges == {
        (obs.METRIC_BREAKER_OPEN, "poderes"): 1,
        (obs.METRIC_BREAKER_OPEN, "pessoas"): 0,
        (obs.METRIC_PARKED_ORDERS, None): 1,
        (obs.METRIC_OLDEST_PARKED_AGE, None): 3660,
    }
