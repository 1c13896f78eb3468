"""Caches: in-process TTL with a fake clock, the real Redis round trip, and Redis being down."""

from __future__ import annotations

import logging
import socket
import threading
import time
from decimal import Decimal

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chalicelib.adapters.cache import InProcessTtlCache, RedisCache, build_cache

AREA = {"area_code": "CREDITO_PJ", "active": True, "limits": {"max_amount": Decimal("5000000.00")}}
AREA_AS_JSON = {"area_code": "CREDITO_PJ", "active": True, "limits": {"max_amount": "5000000.00"}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- in-process -------------------------------------------------------------------------------------


def test_in_process_value_is_served_until_its_ttl_passes():
    clock = FakeClock()
    cache = InProcessTtlCache(clock=clock)
    cache.set_json("area:CREDITO_PJ", AREA, ttl_seconds=300)

    clock.now += 299.9
    before = cache.get_json("area:CREDITO_PJ")
    clock.now += 0.1
    after = cache.get_json("area:CREDITO_PJ")

    assert before == AREA_AS_JSON
    assert after is None
    assert len(cache) == 0


def test_in_process_values_come_back_as_copies_the_caller_cannot_corrupt():
    cache = InProcessTtlCache(clock=FakeClock())
    cache.set_json("k", AREA, ttl_seconds=60)

    cache.get_json("k")["active"] = False

    assert cache.get_json("k")["active"] is True


def test_in_process_cache_evicts_the_least_recently_used_beyond_its_size():
    cache = InProcessTtlCache(clock=FakeClock(), max_entries=2)
    cache.set_json("a", 1, ttl_seconds=60)
    cache.set_json("b", 2, ttl_seconds=60)
    cache.get_json("a")  # a is now the most recently used

    cache.set_json("c", 3, ttl_seconds=60)

    assert (cache.get_json("a"), cache.get_json("b"), cache.get_json("c")) == (1, None, 3)


def test_in_process_cache_drops_expired_entries_before_evicting_live_ones():
    clock = FakeClock()
    cache = InProcessTtlCache(clock=clock, max_entries=2)
    cache.set_json("live", "x", ttl_seconds=600)
    cache.set_json("short", "y", ttl_seconds=1)
    clock.now += 2

    cache.set_json("new", "z", ttl_seconds=600)

    assert (cache.get_json("live"), cache.get_json("new")) == ("x", "z")


def test_in_process_cache_does_not_store_a_zero_ttl():
    cache = InProcessTtlCache(clock=FakeClock())

    cache.set_json("k", 1, ttl_seconds=0)

    assert cache.get_json("k") is None


def test_in_process_cache_is_consistent_under_concurrent_writers_and_readers():
    cache = InProcessTtlCache(max_entries=50)
    errors: list[BaseException] = []
    wrong: list[tuple[str, object]] = []

    def worker(n: int) -> None:
        try:
            for i in range(500):
                key = f"{n}:{i % 20}"
                cache.set_json(key, {"n": n, "i": i % 20}, ttl_seconds=60)
                value = cache.get_json(key)
                if value is not None and value != {"n": n, "i": i % 20}:
                    wrong.append((key, value))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert (errors, wrong) == ([], [])
    assert len(cache) <= 50


# -- Redis ------------------------------------------------------------------------------------------


@pytest.fixture()
def redis_client(redis_url, unique_prefix):
    client = redis.Redis.from_url(redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{unique_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
def test_redis_round_trip_keeps_the_value_under_the_prefix(redis_url, redis_client, unique_prefix):
    cache = RedisCache(redis_url, prefix=unique_prefix)

    cache.set_json("area:CREDITO_PJ", AREA, ttl_seconds=30)

    assert cache.get_json("area:CREDITO_PJ") == AREA_AS_JSON
    assert 0 < redis_client.pttl(f"{unique_prefix}area:CREDITO_PJ") <= 30_000
    assert cache.get_json("area:OTHER") is None


@pytest.mark.redis
def test_redis_value_expires_after_its_ttl(redis_client, unique_prefix):
    cache = RedisCache(redis_client, prefix=unique_prefix)
    cache.set_json("k", {"v": 1}, ttl_seconds=0.2)
    first = cache.get_json("k")
    ttl_millis = redis_client.pttl(f"{unique_prefix}k")

    deadline = time.monotonic() + 5
    while cache.get_json("k") is not None and time.monotonic() < deadline:
        time.sleep(0.02)

    assert first == {"v": 1}
    assert 0 < ttl_millis <= 200
    assert cache.get_json("k") is None


@pytest.mark.redis
def test_redis_caches_with_different_prefixes_do_not_see_each_other(redis_client, unique_prefix):
    product_a = RedisCache(redis_client, prefix=f"{unique_prefix}a:")
    product_b = RedisCache(redis_client, prefix=f"{unique_prefix}b:")

    product_a.set_json("k", "from a", ttl_seconds=30)

    assert product_a.get_json("k") == "from a"
    assert product_b.get_json("k") is None


@pytest.mark.redis
def test_redis_entry_that_is_not_json_is_a_miss(redis_client, unique_prefix):
    redis_client.set(f"{unique_prefix}k", b"\xff not json", px=30_000)

    assert RedisCache(redis_client, prefix=unique_prefix).get_json("k") is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_is_a_miss_and_a_no_op_with_a_warning(caplog):
    cache = RedisCache(f"redis://127.0.0.1:{_closed_port()}/0", prefix="ame:")

    with caplog.at_level(logging.WARNING, logger="chalicelib.adapters.cache"):
        cache.set_json("k", {"v": 1}, ttl_seconds=30)
        value = cache.get_json("k")

    assert value is None
    assert any("Redis cache unavailable" in r.getMessage() for r in caplog.records)


class _CountingRedis(redis.Redis):
    """A real client whose commands are counted, to see when the cache stops trying."""

    calls = 0

    def execute_command(self, *args, **kwargs):
        type(self).calls += 1
        return super().execute_command(*args, **kwargs)


def test_redis_down_is_not_retried_on_every_request_but_again_after_a_pause():
    clock = FakeClock()
    client = _CountingRedis(
        host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    _CountingRedis.calls = 0
    cache = RedisCache(client, retry_after_seconds=5, clock=clock)

    cache.get_json("k")
    for _ in range(10):
        cache.get_json("k")
        cache.set_json("k", 1, ttl_seconds=30)
    calls_while_down = _CountingRedis.calls
    clock.now += 5
    cache.get_json("k")

    assert calls_while_down == 1
    assert _CountingRedis.calls == 2


def test_build_cache_uses_redis_only_when_a_url_is_configured():
    # Building the Redis cache opens no connection, so no server is needed here.
    assert isinstance(build_cache(None), InProcessTtlCache)
    assert isinstance(build_cache(""), InProcessTtlCache)
    assert isinstance(build_cache("redis://127.0.0.1:6379/15"), RedisCache)


def test_redis_many_keys_round_trip_in_one_call(redis_client, unique_prefix):
    cache = RedisCache(redis_client, prefix=unique_prefix)
    cache.set_many_json({"a": {"n": 1}, "b": None, "c": [1, 2]}, ttl_seconds=30)
    assert cache.get_many_json(["a", "missing", "c"]) == [{"n": 1}, None, [1, 2]]


def test_redis_many_keys_when_redis_is_down_are_misses():
    cache = RedisCache("redis://127.0.0.1:1/0")
    cache.set_many_json({"a": 1}, ttl_seconds=30)
    assert cache.get_many_json(["a", "b"]) == [None, None]
