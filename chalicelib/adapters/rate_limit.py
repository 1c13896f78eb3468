"""The RateLimiter port: a token bucket per caller, shared in Redis (ElastiCache in AWS) or in this process.

Redis: one Lua script (registered with redis-py's register_script, run by EVALSHA) reads, refills, takes and
writes the bucket atomically, on Redis's own clock (TIME), so every Lambda instance shares one bucket per
caller and their clocks never disagree. The arithmetic is chalicelib/domain/throttling.take, line for line.

Redis down: fail-open to this instance's own bucket (InProcessRateLimiter) with the same limits, for as long
as Redis keeps failing (an OutageGate skips it for a few seconds after each failure, so a dead server costs
no timeout per request). Why not fail-closed: Redis is a cache-class dependency here (single node, no
persistence); refusing every order while it is away would turn its outage into AME's. Why not fully open:
each instance still throttles each caller, so the total is bounded by the limit times the API's instances,
which the stage's throttling and the functions' reserved concurrency cap (docs/security.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from chalicelib.domain.throttling import BucketState, Decision, RateLimit, idle_seconds_to_full, take

log = logging.getLogger(__name__)

# KEYS[1] the bucket; ARGV: rate per second, burst, cost, now ("" = Redis's TIME). Returns
# {allowed (0|1), remaining, retry_after} with the numbers as strings (Lua numbers become integers).
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, string.format('%.17g', tokens), string.format('%.17g', retry)}
"""


class InProcessRateLimiter:
    """Buckets in this process's memory: the local stack without Redis, and the fallback while Redis is down.
    Buckets idle long enough to be full again are forgotten (they would start full anyway)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[BucketState, float]] = OrderedDict()  # bucket -> (state, idle ttl)

    def acquire(self, bucket: str, limit: RateLimit) -> Decision:
        with self._lock:
            now = self._clock()
            held = self._buckets.get(bucket)
            state = None if held is None or now - held[0].updated_at > held[1] else held[0]
            state, decision = take(state, now, limit)
            self._buckets[bucket] = (state, idle_seconds_to_full(limit))
            self._buckets.move_to_end(bucket)
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            return decision


class RedisRateLimiter:
    """Buckets in Redis under `prefix`, shared by every instance; this instance's buckets while Redis fails."""

    def __init__(
        self,
        client: Any,
        prefix: str = "ame:ratelimit:",
        *,
        fallback: InProcessRateLimiter | None = None,
        clock: Callable[[], float] | None = None,
        retry_after_seconds: float = 5.0,
    ) -> None:
        import redis

        from chalicelib.adapters.cache import OutageGate, redis_client

        self._redis = redis_client(client) if isinstance(client, str) else client
        self._prefix = prefix
        self._script = self._redis.register_script(TOKEN_BUCKET_LUA)
        self._fallback = fallback or InProcessRateLimiter()
        # None: Redis's clock (production); a function: tests drive time themselves.
        self._clock = clock
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._gate = OutageGate("rate limiter (Redis)", retry_after_seconds)

    def acquire(self, bucket: str, limit: RateLimit) -> Decision:
        if self._gate.skipping():
            return self._fallback.acquire(bucket, limit)
        now = "" if self._clock is None else repr(self._clock())
        try:
            allowed, remaining, retry = self._script(
                keys=[self._prefix + bucket], args=[repr(limit.rate_per_second), limit.burst, 1, now]
            )
        except self._errors as exc:
            self._gate.failed("acquire", exc)
            return self._fallback.acquire(bucket, limit)
        return Decision(int(allowed) == 1, float(remaining), float(retry))


def build_rate_limiter(redis_url: str | None) -> InProcessRateLimiter | RedisRateLimiter:
    """Redis when configured (shared by every Lambda instance), else this process (the local stack)."""
    if redis_url:
        return RedisRateLimiter(redis_url)
    return InProcessRateLimiter()
