"""Per-caller throttling as a token bucket: the rule, its configuration and its arithmetic, pure.

Business rule: each caller (the token's `client_id`) has a bucket per throttled action that holds at most
`burst` tokens and refills at `rate_per_second`. A request takes one token; with none left it is refused
and told how long until one is back (Retry-After). The Redis adapter runs the same arithmetic in one Lua
script (chalicelib/adapters/rate_limit.py), so every Lambda instance shares one bucket per caller.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What a caller's request costs: its bucket is named after the action, so creating orders and simulating
# quorums do not eat each other's allowance.
ACTION_CREATE_ORDER = "orders"
ACTION_SIMULATE = "simulations"
# A read that waits for a change holds an API function for up to 10 s: the bucket bounds how many one
# caller keeps open (rate × 10 s). Without a token the read is answered at once instead of waiting.
ACTION_WAIT = "waits"


class RateLimit(BaseModel):
    """A bucket's shape: `burst` requests at once, then `rate_per_second` on average."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_second: float = Field(gt=0, le=100_000)
    burst: int = Field(ge=1, le=1_000_000)


DEFAULT_LIMIT = RateLimit(rate_per_second=10.0, burst=50)


class CallerLimits(BaseModel):
    """AME_CALLER_LIMITS: `{"default": {...}, "<client_id>": {...}, ...}`; a caller not named gets `default`
    (10 per second, bursts of 50, when `default` itself is not given)."""

    model_config = ConfigDict(frozen=True)

    default: RateLimit = DEFAULT_LIMIT
    callers: dict[str, RateLimit] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_flat_json(cls, data: Any) -> Any:
        if data is None or data == "":
            return {}
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ValueError(f"AME_CALLER_LIMITS is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("AME_CALLER_LIMITS must be a JSON object")
        if "callers" in data and set(data) <= {"default", "callers"}:
            return data
        return {
            **({"default": data["default"]} if "default" in data else {}),
            "callers": {k: v for k, v in data.items() if k != "default"},
        }

    def for_caller(self, client_id: str) -> RateLimit:
        return self.callers.get(client_id, self.default)


class BucketState(NamedTuple):
    tokens: float
    updated_at: float  # seconds, on the clock that refills the bucket


class Decision(NamedTuple):
    allowed: bool
    remaining: float
    retry_after_seconds: float  # 0 when allowed

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1 (HTTP's Retry-After has no fractions)."""
        return str(max(1, math.ceil(self.retry_after_seconds)))


def take(state: BucketState | None, now: float, limit: RateLimit, cost: float = 1.0) -> tuple[BucketState, Decision]:
    """Refill the bucket for the time since its last use (a new bucket is full), then take `cost` tokens
    if there are that many. A clock that went back refills nothing."""
    if state is None:
        tokens, updated_at = float(limit.burst), now
    else:
        tokens, updated_at = state
        if now > updated_at:
            tokens = min(float(limit.burst), tokens + (now - updated_at) * limit.rate_per_second)
            updated_at = now
    if tokens >= cost:
        tokens -= cost
        return BucketState(tokens, updated_at), Decision(True, tokens, 0.0)
    return BucketState(tokens, updated_at), Decision(False, tokens, (cost - tokens) / limit.rate_per_second)


def idle_seconds_to_full(limit: RateLimit) -> float:
    """How long an unused bucket takes to be full again: after that, forgetting it changes nothing."""
    return limit.burst / limit.rate_per_second
