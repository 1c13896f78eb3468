"""The RateLimiter contract, run over the test fake, the in-process limiter and the Redis adapter (one Lua
script), so the fake cannot drift from what runs in AWS; and Redis's bucket is shared by every instance."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from chalicelib.adapters.rate_limit import InProcessRateLimiter, RedisRateLimiter
from chalicelib.domain.throttling import RateLimit
from tests.fakes import FakeRateLimiter

LIMIT = RateLimit(rate_per_second=4.0, burst=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["fake", "in_process", "redis"])
def limiter(request) -> Iterator[tuple[object, Callable[[float], None]]]:
    if request.param == "fake":
        fake = FakeRateLimiter()
        yield fake, fake.advance
        return
    clock = Clock()

    def advance(seconds: float) -> None:
        clock.now += seconds

    if request.param == "in_process":
        yield InProcessRateLimiter(clock), advance
        return
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("unique_prefix")
    client = redis.Redis.from_url(url)
    yield RedisRateLimiter(client, prefix, clock=clock), advance
    keys = client.keys(prefix + "*")
    if keys:
        client.delete(*keys)


def test_contract_burst_then_refused_with_the_wait(limiter):
    bucket, _ = limiter
    decisions = [bucket.acquire("orders:p", LIMIT) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[4].remaining == pytest.approx(0.0)
    assert decisions[5].retry_after_seconds == pytest.approx(0.25)
    assert decisions[5].retry_after_header == "1"


def test_contract_refill_at_the_rate_capped_at_the_burst(limiter):
    bucket, advance = limiter
    for _ in range(5):
        bucket.acquire("orders:p", LIMIT)
    advance(0.5)  # two tokens back
    assert [bucket.acquire("orders:p", LIMIT).allowed for _ in range(3)] == [True, True, False]
    advance(3600)
    assert bucket.acquire("orders:p", LIMIT).remaining == pytest.approx(4.0)  # full (5), one taken


def test_contract_buckets_are_independent(limiter):
    bucket, _ = limiter
    for _ in range(5):
        bucket.acquire("orders:p", LIMIT)
    assert not bucket.acquire("orders:p", LIMIT).allowed
    assert bucket.acquire("orders:q", LIMIT).allowed
    assert bucket.acquire("simulations:p", LIMIT).allowed


def test_redis_bucket_is_shared_by_instances_and_atomic_under_concurrency(redis_url, unique_prefix):
    """Two "Lambda instances" (two clients, two limiters) on Redis's own clock: 40 concurrent requests
    against a burst of 5 at a negligible rate get exactly 5 tokens between them."""
    slow = RateLimit(rate_per_second=0.001, burst=5)
    first = RedisRateLimiter(redis.Redis.from_url(redis_url), unique_prefix)
    second = RedisRateLimiter(redis.Redis.from_url(redis_url), unique_prefix)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: (first, second)[i % 2].acquire("orders:p", slow).allowed, range(40)))
    assert sum(results) == 5
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl(unique_prefix + "orders:p") <= (5 / 0.001 + 1) * 1000  # forgotten once full again
    client.delete(unique_prefix + "orders:p")


def test_redis_down_fails_open_to_the_instance_bucket(redis_url, unique_prefix):
    clock = Clock()
    fallback = InProcessRateLimiter(clock)
    dead = RedisRateLimiter("redis://127.0.0.1:1/0", unique_prefix, fallback=fallback, clock=clock)
    # Fail-open, not wide open: the instance's own bucket with the same limit still refuses the sixth.
    assert [dead.acquire("orders:p", LIMIT).allowed for _ in range(6)] == [True] * 5 + [False]
