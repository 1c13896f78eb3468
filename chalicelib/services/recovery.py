"""Resume on recovery: when a partner is seen healthy again, the orders parked on it are re-driven
promptly, at a bounded rate, instead of waiting out their growing re-drive interval.

"Healthy again" is either trigger:
- the shared breaker closes after a successful half-open probe (the composition root wires the breaker's
  state hook to `partner_recovered`), or
- the scheduled probe (`probe`) makes one cheap call to each partner some order is parked on, and it
  answers (a 2xx or a documented 4xx: only a transient failure says the partner is still down).

The re-drives of one trigger are spread with the creation message's delay: the order at position p of
the partner's parked list (soonest due first) is sent with DelaySeconds p // rate, so at most `rate`
re-drives start per second, and one trigger takes at most rate × spread orders; the next trigger takes
the rest. Each re-drive is a compare-and-set on the order (`resume_parked`: still parked on that
partner), so two triggers at once launch every order once. The growing interval of `Redrive.park`
stays the fallback: a re-drive message that is lost is resent by the sweeper after the grace period,
and a partner that never answers a probe leaves its orders to the backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.partners import WORKFLOW_PARTNERS
from chalicelib.services.launch import CreationMessage
from chalicelib.services.ports import (
    CREATION_QUEUE,
    Clock,
    MessageQueue,
    PartnerError,
    PartnerUnavailable,
    RedriveStore,
)

log = logging.getLogger(__name__)

# The partners whose transient failure parks an order: one shared breaker each.
RECOVERABLE_PARTNERS = WORKFLOW_PARTNERS
MAX_SQS_DELAY_SECONDS = 900


def parked_partner(message: str) -> str | None:
    """The partner a parking failure names: PartnerError messages read "<partner>: <what happened>"."""
    head = message.split(":", 1)[0].strip().lower() if ":" in message else ""
    return head if head in RECOVERABLE_PARTNERS else None


@dataclass(frozen=True)
class ResumePolicy:
    rate_per_second: float = 20.0  # re-drives started per second at most, per partner
    spread_seconds: float = 60.0  # one trigger spreads its re-drives over at most this long
    grace_seconds: float = 120.0  # an unclaimed re-drive is resent by the sweeper after this long

    @property
    def per_run(self) -> int:
        """Orders one trigger resumes at most: the rest wait for the next trigger."""
        return max(1, int(self.rate_per_second * min(self.spread_seconds, MAX_SQS_DELAY_SECONDS)))

    @property
    def on_close(self) -> int:
        """Orders the breaker's closing resumes inline, in whatever call closed it: one second's worth."""
        return max(1, int(self.rate_per_second))


class PartnerRecovery:
    def __init__(
        self,
        repository: RedriveStore,
        queue: MessageQueue,
        probes: Mapping[str, Callable[[], object]],
        clock: Clock,
        policy: ResumePolicy = ResumePolicy(),
    ) -> None:
        self._repo = repository
        self._queue = queue
        self._probes = probes
        self._clock = clock
        self._policy = policy
        self._probing = threading.local()

    def resume(self, partner: str, limit: int | None = None) -> int:
        """Re-drive the orders parked on `partner`, at most `rate` per second; returns how many."""
        p = self._policy
        keys = self._repo.parked_on(partner, min(limit or p.per_run, p.per_run))
        now = self._clock.now()
        resumed = 0
        for position, order_key in enumerate(keys):
            delay = min(int(position // p.rate_per_second), MAX_SQS_DELAY_SECONDS)
            attempt = self._repo.resume_parked(
                order_key, partner, now, now + timedelta(seconds=delay + p.grace_seconds)
            )
            if attempt is None:  # another trigger took it, or an execution claimed it meanwhile
                continue
            self._queue.send(CREATION_QUEUE, CreationMessage(order_key, attempt).body(), delay_seconds=delay)
            resumed += 1
        if resumed:
            log.warning(
                "partner back: parked orders re-driven",
                extra={"partner": partner, "resumed": resumed, "spread_s": int(len(keys) // p.rate_per_second)},
            )
        return resumed

    def partner_recovered(self, partner: str) -> int:
        """The breaker closed after a successful probe: resume the first second's worth of orders parked
        on it now (the scheduled probe takes the rest). Never raises: it runs inside a partner call."""
        if getattr(self._probing, "partner", None) == partner:
            return 0  # the scheduled probe closed it and resumes by itself
        try:
            return self.resume(partner, self._policy.on_close)
        except Exception:
            log.warning("resume on breaker close failed; the probe or the sweeper will", exc_info=True)
            return 0

    def probe(self) -> dict[str, Any]:
        """The scheduled health probe: one cheap call to each partner some order is parked on; when it
        answers, its parked orders are resumed. {partner: resumed count, or "down"}."""
        outcome: dict[str, Any] = {}
        for partner in self._repo.parked_partners():
            call = self._probes.get(partner)
            if call is None:
                continue
            self._probing.partner = partner
            try:
                call()
            except PartnerUnavailable:  # still down, or its breaker still open
                outcome[partner] = "down"
                continue
            except PartnerError:
                pass  # a permanent answer (a 4xx) says the partner is up
            finally:
                self._probing.partner = None
            outcome[partner] = self.resume(partner)
        return outcome
