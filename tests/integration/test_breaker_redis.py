"""The breaker's state lives in Redis: what one Lambda instance learns, every other one sees."""

import redis

from chalicelib.adapters.breaker import BreakerPolicy, CircuitBreaker, CircuitOpen, RedisBreakerStore
from chalicelib.services.ports import PartnerUnavailable

POLICY = BreakerPolicy(failure_rate=0.5, min_calls=3, window_seconds=10, buckets=5, open_seconds=30)


def failing():
    raise PartnerUnavailable("pessoas", "503")


def test_a_breaker_opened_by_one_instance_is_open_for_another(redis_url, unique_prefix):
    client = redis.Redis.from_url(redis_url)
    first = CircuitBreaker("pessoas", RedisBreakerStore(client, unique_prefix), POLICY)
    second = CircuitBreaker("pessoas", RedisBreakerStore(redis.Redis.from_url(redis_url), unique_prefix), POLICY)
    for _ in range(3):
        try:
            first.call(failing)
        except PartnerUnavailable:
            pass
    called = []
    try:
        second.call(lambda: called.append(1))
        raise AssertionError("expected the shared breaker to be open")
    except CircuitOpen:
        pass
    assert called == [] and first.openings == 1
    client.delete(*client.keys(unique_prefix + "*"))


def test_redis_down_means_closed_not_broken():
    store = RedisBreakerStore("redis://127.0.0.1:1/0")
    breaker = CircuitBreaker("pessoas", store, POLICY)
    assert breaker.call(lambda: "ok") == "ok"
