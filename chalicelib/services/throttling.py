"""Per-caller throttling of the routes that cost partner calls, writes and notifications (docs/security.md)."""

from __future__ import annotations

import logging

from chalicelib.domain.errors import RateLimited
from chalicelib.domain.throttling import CallerLimits, Decision
from chalicelib.services.ports import RateLimiter

log = logging.getLogger(__name__)


class CallerThrottle:
    """One bucket per (action, caller), shaped by the caller's configured limit."""

    def __init__(self, limiter: RateLimiter, limits: CallerLimits) -> None:
        self._limiter = limiter
        self._limits = limits

    def allows(self, client_id: str, action: str) -> bool:
        """Takes a token for `action` when the caller has one; False (logged) when not. For what can be
        done more cheaply instead of refused, such as a read answered at once rather than held."""
        return self._acquire(client_id, action).allowed

    def check(self, client_id: str, action: str) -> None:
        """Raises RateLimited when the caller has no token left for `action`; called before any other work."""
        decision = self._acquire(client_id, action)
        if not decision.allowed:
            raise RateLimited(client_id, action, decision.retry_after_header)

    def _acquire(self, client_id: str, action: str) -> Decision:
        """One token from the caller's bucket for `action`; a refusal is logged with when to come back."""
        decision = self._limiter.acquire(f"{action}:{client_id}", self._limits.for_caller(client_id))
        if not decision.allowed:
            log.warning(
                "caller throttled",
                extra={"client_id": client_id, "action": action, "retry_after": decision.retry_after_header},
            )
        return decision
