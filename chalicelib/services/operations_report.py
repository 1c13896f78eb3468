"""Once a minute, the gauges operators alarm on: each partner's breaker (open or not) and the parked
backlog (how many orders wait for a partner, and for how long the oldest has). Breaker transitions and
parking events alone leave gaps that a CloudWatch alarm reads as "no data"; a steady gauge lets
"open for N minutes" and "backlog growing" be alarms (docs/runbook.md)."""

from __future__ import annotations

from chalicelib import observability as obs
from chalicelib.services.ports import BreakerStates, Clock, ParkedBacklogReader


class OperationsReport:
    def __init__(self, backlog: ParkedBacklogReader, breakers: BreakerStates, clock: Clock) -> None:
        self._backlog = backlog
        self._breakers = breakers
        self._clock = clock

    def run(self) -> dict[str, int]:
        states = self._breakers.open_partners()
        for partner, is_open in sorted(states.items()):
            obs.record_breaker_state(partner, is_open)
        parked, oldest = self._backlog.parked_backlog()
        age = 0 if oldest is None else max(0, int((self._clock.now() - oldest).total_seconds()))
        obs.record_parked_backlog(parked, age)
        return {"parked": parked, "oldest_parked_age_s": age, "breakers_open": sum(states.values())}
