"""Circuit breaker per partner, with its state shared by every Lambda instance (Redis) or in-process.

Closed: calls go through and outcomes are counted in a sliding window of time buckets. When at least
`min_calls` calls in the window failed at `failure_rate` or more, the breaker opens: calls fail fast
with CircuitOpen (a PartnerUnavailable, so the state machine treats it as transient) without touching
the partner. After `open_seconds` it half-opens: one probe call at a time goes through; a success
closes it, a failure opens it again. Only transient failures (PartnerUnavailable) count: a 404 or a
permanent rejection says the partner is up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.services.ports import PartnerUnavailable

log = logging.getLogger(__name__)


class CircuitOpen(PartnerUnavailable):
    """The partner's breaker is open: failing fast, the partner was not called."""

    def __init__(self, partner: str, retry_in: float):
        super().__init__(partner, f"circuit open; next probe in {retry_in:.1f}s")
        self.retry_in = retry_in


@dataclass(frozen=True)
class BreakerPolicy:
    failure_rate: float = 0.5
    min_calls: int = 10
    window_seconds: float = 30.0
    buckets: int = 6
    open_seconds: float = 15.0

    @property
    def bucket_seconds(self) -> float:
        return self.window_seconds / self.buckets


class BreakerStore(Protocol):
    def window(self, partner: str, now: float, policy: BreakerPolicy) -> tuple[int, int]:
        """(calls, failures) in the window ending now."""

    def record(self, partner: str, ok: bool, now: float, policy: BreakerPolicy) -> None: ...

    def open_until(self, partner: str) -> float: ...

    def open(self, partner: str, until: float) -> None: ...

    def close(self, partner: str) -> None:
        """Back to closed: forget the open state and the window's counts."""

    def try_probe(self, partner: str, now: float, hold_seconds: float) -> bool:
        """Take the half-open probe slot (one caller at a time)."""


class InProcessBreakerStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[int, list[int]]] = {}
        self._open_until: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}

    def window(self, partner: str, now: float, policy: BreakerPolicy) -> tuple[int, int]:
        current = int(now // policy.bucket_seconds)
        with self._lock:
            buckets = self._buckets.get(partner, {})
            live = [v for k, v in buckets.items() if k > current - policy.buckets]
        return sum(v[0] for v in live), sum(v[1] for v in live)

    def record(self, partner: str, ok: bool, now: float, policy: BreakerPolicy) -> None:
        current = int(now // policy.bucket_seconds)
        with self._lock:
            buckets = self._buckets.setdefault(partner, {})
            for old in [k for k in buckets if k <= current - policy.buckets]:
                del buckets[old]
            counts = buckets.setdefault(current, [0, 0])
            counts[0] += 1
            counts[1] += 0 if ok else 1

    def open_until(self, partner: str) -> float:
        with self._lock:
            return self._open_until.get(partner, 0.0)

    def open(self, partner: str, until: float) -> None:
        with self._lock:
            self._open_until[partner] = until
            self._probe_until.pop(partner, None)

    def close(self, partner: str) -> None:
        with self._lock:
            self._open_until.pop(partner, None)
            self._probe_until.pop(partner, None)
            self._buckets.pop(partner, None)

    def try_probe(self, partner: str, now: float, hold_seconds: float) -> bool:
        with self._lock:
            if self._probe_until.get(partner, 0.0) > now:
                return False
            self._probe_until[partner] = now + hold_seconds
            return True


class RedisBreakerStore:
    """The same state in Redis, so every Lambda instance sees one breaker per partner.

    Redis trouble must never block partner calls: while Redis is failing the breaker behaves as closed.
    """

    def __init__(self, client: Any, prefix: str = "ame:breaker:"):
        from chalicelib.adapters.cache import OutageGate, redis_client

        self._redis = redis_client(client) if isinstance(client, str) else client
        self._prefix = prefix
        self._gate = OutageGate("breaker store (Redis)")

    def _key(self, partner: str, what: str) -> str:
        return f"{self._prefix}{partner}:{what}"

    def _do(self, operation: str, fn: Callable[[], Any], default: Any) -> Any:
        if self._gate.skipping():
            return default
        try:
            return fn()
        except Exception as exc:
            self._gate.failed(operation, exc)
            return default

    def window(self, partner: str, now: float, policy: BreakerPolicy) -> tuple[int, int]:
        current = int(now // policy.bucket_seconds)
        fields = [str(b) for b in range(current - policy.buckets + 1, current + 1)]

        def read() -> tuple[int, int]:
            pipe = self._redis.pipeline()
            pipe.hmget(self._key(partner, "calls"), fields)
            pipe.hmget(self._key(partner, "fails"), fields)
            calls, fails = pipe.execute()
            return sum(int(c or 0) for c in calls), sum(int(f or 0) for f in fails)

        return self._do("window", read, (0, 0))

    def record(self, partner: str, ok: bool, now: float, policy: BreakerPolicy) -> None:
        bucket = str(int(now // policy.bucket_seconds))
        ttl = int(policy.window_seconds * 2) + 1

        def write() -> None:
            pipe = self._redis.pipeline()
            pipe.hincrby(self._key(partner, "calls"), bucket, 1)
            if not ok:
                pipe.hincrby(self._key(partner, "fails"), bucket, 1)
            pipe.expire(self._key(partner, "calls"), ttl)
            pipe.expire(self._key(partner, "fails"), ttl)
            pipe.execute()

        self._do("record", write, None)

    def open_until(self, partner: str) -> float:
        value = self._do("open_until", lambda: self._redis.get(self._key(partner, "open_until")), None)
        return float(value) if value else 0.0

    def open(self, partner: str, until: float) -> None:
        def write() -> None:
            pipe = self._redis.pipeline()
            pipe.set(self._key(partner, "open_until"), repr(until), ex=3600)
            pipe.delete(self._key(partner, "probe"))
            pipe.execute()

        self._do("open", write, None)

    def close(self, partner: str) -> None:
        keys = [self._key(partner, w) for w in ("open_until", "probe", "calls", "fails")]
        self._do("close", lambda: self._redis.delete(*keys), None)

    def try_probe(self, partner: str, now: float, hold_seconds: float) -> bool:
        millis = max(1, int(hold_seconds * 1000))
        taken = self._do("probe", lambda: self._redis.set(self._key(partner, "probe"), "1", nx=True, px=millis), True)
        return bool(taken)


class CircuitBreaker:
    def __init__(
        self,
        partner: str,
        store: BreakerStore,
        policy: BreakerPolicy = BreakerPolicy(),
        clock: Callable[[], float] = time.time,
        on_state: Callable[[str, bool], Any] | None = None,
    ):
        self.partner = partner
        self._store = store
        self._policy = policy
        self._clock = clock
        self._on_state = on_state or (lambda partner, is_open: None)
        self.openings = 0

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        now = self._clock()
        probing = False
        open_until = self._store.open_until(self.partner)
        if open_until > now:
            raise CircuitOpen(self.partner, open_until - now)
        if open_until:  # the open period is over: half-open, one probe at a time
            if not self._store.try_probe(self.partner, now, self._policy.open_seconds):
                raise CircuitOpen(self.partner, self._policy.open_seconds)
            probing = True
        try:
            result = fn(*args, **kwargs)
        except PartnerUnavailable:
            self._failure(probing)
            raise
        self._success(probing)
        return result

    def _success(self, probing: bool) -> None:
        if probing:
            self._store.close(self.partner)
            log.warning("circuit closed for %s after a successful probe", self.partner)
            self._on_state(self.partner, False)
        self._store.record(self.partner, True, self._clock(), self._policy)

    def _failure(self, probing: bool) -> None:
        now = self._clock()
        if probing:
            self._trip(now)
            return
        self._store.record(self.partner, False, now, self._policy)
        calls, failures = self._store.window(self.partner, now, self._policy)
        if calls >= self._policy.min_calls and failures >= self._policy.failure_rate * calls:
            self._trip(now)

    def _trip(self, now: float) -> None:
        self._store.open(self.partner, now + self._policy.open_seconds)
        self.openings += 1
        log.warning("circuit opened for %s for %.0fs", self.partner, self._policy.open_seconds)
        self._on_state(self.partner, True)


class BreakerGuarded:
    """Wraps a partner client: every public method call goes through the partner's breaker."""

    def __init__(self, inner: Any, breaker: CircuitBreaker):
        self._inner = inner
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._breaker.call(attr, *args, **kwargs)

        return guarded
