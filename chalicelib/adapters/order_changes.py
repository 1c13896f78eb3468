"""Who waits on an order hears when its status changes: in this process, or through Redis between Lambdas.

Best effort by design: a reader that waits (GET /v1/orders/{key} with `Prefer: wait`) re-reads the order on
its own every few hundred milliseconds anyway, so a lost announcement (Redis down, a publish that failed)
delays an answer by at most that, and never loses one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.services.search import NO_SIGNALS, NoSignals

log = logging.getLogger(__name__)


class _EventListener:
    def __init__(self) -> None:
        self.event = threading.Event()

    def wait(self, timeout_seconds: float) -> bool:
        fired = self.event.wait(max(0.0, timeout_seconds))
        self.event.clear()
        return fired


class InProcessOrderChanges:
    """Listeners and announcements in this process: the local stack, where the API and the workflow share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, set[_EventListener]] = {}

    def announce(self, order_key: str) -> None:
        with self._lock:
            listeners = list(self._listeners.get(order_key, ()))
        for listener in listeners:
            listener.event.set()

    @contextmanager
    def listen(self, order_key: str) -> Iterator[_EventListener]:
        listener = _EventListener()
        with self._lock:
            self._listeners.setdefault(order_key, set()).add(listener)
        try:
            yield listener
        finally:
            with self._lock:
                waiting = self._listeners.get(order_key)
                if waiting is not None:
                    waiting.discard(listener)
                    if not waiting:
                        del self._listeners[order_key]


class _PubSubListener:
    def __init__(self, pubsub: Any, errors: tuple[type[BaseException], ...]) -> None:
        self._pubsub, self._errors = pubsub, errors

    def wait(self, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        try:
            while True:
                left = deadline - time.monotonic()
                message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=max(0.0, left))
                if message is not None:
                    return True
                if left <= 0:
                    return False
        except self._errors as exc:
            log.warning("order changes: Redis failed while waiting (%s: %s)", type(exc).__name__, exc)
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False


class RedisOrderChanges:
    """One channel per order, shared by every Lambda instance: the workflow's functions publish, the API's wait."""

    def __init__(self, client: Any, prefix: str = "ame:order-changed:") -> None:
        import redis

        from chalicelib.adapters.cache import redis_client

        self._redis = redis_client(client) if isinstance(client, str) else client
        self._prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def announce(self, order_key: str) -> None:
        try:
            self._redis.publish(self._prefix + order_key, "1")
        except self._errors as exc:
            log.warning("order changes: could not announce %s (%s: %s)", order_key, type(exc).__name__, exc)

    @contextmanager
    def listen(self, order_key: str) -> Iterator[_PubSubListener | NoSignals]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._prefix + order_key)
        except self._errors as exc:
            log.warning("order changes: could not listen on %s (%s: %s)", order_key, type(exc).__name__, exc)
            pubsub.close()
            yield NO_SIGNALS  # the reader re-reads on its own schedule
            return
        try:
            yield _PubSubListener(pubsub, self._errors)
        finally:
            pubsub.close()


def build_order_changes(redis_url: str | None) -> InProcessOrderChanges | RedisOrderChanges:
    """Redis when configured (the API and the workflow are different Lambdas), else this process."""
    if redis_url:
        return RedisOrderChanges(redis_url)
    return InProcessOrderChanges()
