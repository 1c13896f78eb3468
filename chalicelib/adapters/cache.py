"""TTL caches for partner answers (area settings, domain values): Redis when configured, else in-process."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

from chalicelib.adapters.jsontext import dumps

logger = logging.getLogger(__name__)


class InProcessTtlCache:
    """A thread-safe, size-bounded TTL cache local to this process (one Lambda container)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        # key -> (expires_at, JSON text). Stored as text so callers never share a mutable object
        # and both caches hand back the same shapes.
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, text = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return json.loads(text)

    def set_json(self, key: str, value: Any, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        text = dumps(value)
        with self._lock:
            self._entries[key] = (self._clock() + ttl_seconds, text)
            self._entries.move_to_end(key)
            if len(self._entries) > self._max_entries:
                self._evict()

    def get_many_json(self, keys: list[str]) -> list[Any | None]:
        return [self.get_json(k) for k in keys]

    def set_many_json(self, items: dict[str, Any], ttl_seconds: float) -> None:
        for key, value in items.items():
            self.set_json(key, value, ttl_seconds)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (expires_at, _) in self._entries.items() if now >= expires_at]:
            del self._entries[key]
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)  # least recently used


class RedisCache:
    """JSON values in Redis with a TTL. Redis trouble is a miss, never an error: the cache is optional."""

    def __init__(
        self,
        client: str | redis.Redis,
        prefix: str = "ame:",
        *,
        socket_timeout: float = 0.25,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        if isinstance(client, str):
            client = redis_client(client, socket_timeout)
        self._client = client
        # What a sick server or network raises; anything else is a bug and should surface.
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._prefix = prefix
        self._gate = OutageGate("Redis cache", retry_after_seconds, clock)

    def get_json(self, key: str) -> Any | None:
        if self._gate.skipping():
            return None
        try:
            raw = self._client.get(self._prefix + key)
        except self._errors as exc:
            self._gate.failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            logger.warning("cache entry is not JSON; treated as a miss", extra={"cache_key": key})
            return None

    def set_json(self, key: str, value: Any, ttl_seconds: float) -> None:
        millis = int(ttl_seconds * 1000)
        if millis <= 0:
            return
        text = dumps(value)
        if self._gate.skipping():
            return
        try:
            self._client.set(self._prefix + key, text, px=millis)
        except self._errors as exc:
            self._gate.failed("set", exc)

    def get_many_json(self, keys: list[str]) -> list[Any | None]:
        """One round trip for many keys (MGET); a miss for each on Redis trouble."""
        if not keys or self._gate.skipping():
            return [None] * len(keys)
        try:
            raws = self._client.mget([self._prefix + k for k in keys])
        except self._errors as exc:
            self._gate.failed("mget", exc)
            return [None] * len(keys)
        out: list[Any | None] = []
        for raw in raws:
            try:
                out.append(None if raw is None else json.loads(raw))
            except ValueError:
                out.append(None)
        return out

    def set_many_json(self, items: dict[str, Any], ttl_seconds: float) -> None:
        millis = int(ttl_seconds * 1000)
        if not items or millis <= 0 or self._gate.skipping():
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(self._prefix + key, dumps(value), px=millis)
            pipe.execute()
        except self._errors as exc:
            self._gate.failed("mset", exc)


def redis_client(url: str, socket_timeout: float = 0.25) -> redis.Redis:
    """A client that fails fast: redis-py retries with backoff by default, and for a cache or a
    breaker's shared state doing without is cheaper than the wait."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, retry=Retry(NoBackoff(), 0)
    )


class OutageGate:
    """After a failure, skip an optional dependency for a while so a dead server costs no timeout on
    every request; one warning per outage."""

    def __init__(self, name: str, retry_after_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._name = name
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0

    def skipping(self) -> bool:
        with self._lock:
            return self._clock() < self._down_until

    def failed(self, operation: str, exc: BaseException) -> None:
        with self._lock:
            self._down_until = self._clock() + self._retry_after
        logger.warning(
            "%s unavailable; doing without it for %.0fs",
            self._name,
            self._retry_after,
            extra={"operation": operation, "error": f"{type(exc).__name__}: {exc}"},
        )


def build_cache(redis_url: str | None) -> InProcessTtlCache | RedisCache:
    """Redis when a URL is configured (shared by every container), otherwise this process's memory."""
    if redis_url:
        return RedisCache(redis_url)
    return InProcessTtlCache()
