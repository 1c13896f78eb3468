"""Per-caller throttling: the token bucket's arithmetic on a fake clock, the caller limits setting, the
in-process limiter, and the API's 429 given before any partner call or database write."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.rate_limit import InProcessRateLimiter, RedisRateLimiter
from chalicelib.domain.throttling import BucketState, CallerLimits, RateLimit, take
from chalicelib.settings import Settings, SettingsError
from tests.fakes import FakeRateLimiter
from tests.unit.test_api_routes import AUTH, ENV, api_over_fakes, post
from tests.unit.test_order_request import valid_body

LIMIT = RateLimit(rate_per_second=2.0, burst=3)


# -- the bucket's arithmetic -------------------------------------------------------------------------


def test_a_new_bucket_is_full_and_each_request_takes_one_token():
    state, decisions = None, []
    for _ in range(4):
        state, decision = take(state, 100.0, LIMIT)
        decisions.append(decision.allowed)
    assert decisions == [True, True, True, False]
    assert state == BucketState(0.0, 100.0)


def test_a_refused_request_is_told_when_a_token_is_back():
    state = BucketState(0.5, 100.0)
    state, decision = take(state, 100.0, LIMIT)
    assert not decision.allowed
    assert decision.retry_after_seconds == pytest.approx(0.25)  # half a token at 2 per second
    assert decision.retry_after_header == "1"  # whole seconds, never 0
    assert take(state, 100.25, LIMIT)[1].allowed


def test_tokens_refill_at_the_rate_up_to_the_burst_and_never_beyond():
    empty = BucketState(0.0, 100.0)
    assert take(empty, 101.0, LIMIT)[0].tokens == pytest.approx(1.0)  # 2 back, 1 taken
    assert take(empty, 1_000.0, LIMIT)[0].tokens == pytest.approx(2.0)  # capped at 3, 1 taken


def test_a_clock_that_goes_back_refills_nothing():
    state, decision = take(BucketState(0.0, 100.0), 90.0, LIMIT)
    assert not decision.allowed and state == BucketState(0.0, 100.0)


def test_over_ten_seconds_a_caller_gets_the_burst_plus_the_rate():
    state, allowed, now = None, 0, 0.0
    for _ in range(500):  # 500 requests evenly over 10 s
        state, decision = take(state, now, LIMIT)
        allowed += decision.allowed
        now += 0.02
    assert allowed == pytest.approx(3 + 2 * 10, abs=1)


# -- the setting -------------------------------------------------------------------------------------


def test_caller_limits_default_and_per_caller_overrides():
    limits = CallerLimits.model_validate(
        json.dumps({"default": {"rate_per_second": 1, "burst": 2}, "portal-bff": {"rate_per_second": 20, "burst": 40}})
    )
    assert limits.for_caller("portal-bff") == RateLimit(rate_per_second=20, burst=40)
    assert limits.for_caller("anyone") == RateLimit(rate_per_second=1, burst=2)
    assert CallerLimits.model_validate("").for_caller("x") == RateLimit(rate_per_second=10, burst=50)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"default": {"rate_per_second": 0, "burst": 1}}',
        '{"p": {"rate_per_second": 1}}',
        '{"p": {"rate_per_second": 1, "burst": 1, "extra": 1}}',
    ],
)
def test_a_bad_caller_limits_setting_is_an_error_at_start(raw):
    with pytest.raises(SettingsError, match="AME_CALLER_LIMITS"):
        Settings.from_env({**ENV, "AME_CALLER_LIMITS": raw})


# -- the in-process limiter (local stack without Redis; fallback while Redis is down) -----------------


def test_in_process_limiter_keeps_one_bucket_per_name():
    clock = [0.0]
    limiter = InProcessRateLimiter(lambda: clock[0])
    assert [limiter.acquire("orders:a", LIMIT).allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.acquire("orders:b", LIMIT).allowed  # another caller has its own bucket
    clock[0] += 0.5
    assert limiter.acquire("orders:a", LIMIT).allowed  # one token back after half a second


def test_redis_down_fails_open_to_this_instance_bucket_which_still_throttles():
    clock = [0.0]
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", fallback=InProcessRateLimiter(lambda: clock[0]))
    decisions = [limiter.acquire("orders:a", LIMIT).allowed for _ in range(4)]
    assert decisions == [True, True, True, False]


# -- the API: 429 before any partner call or database write --------------------------------------------


@pytest.fixture()
def throttled_api():
    env = {**ENV, "AME_CALLER_LIMITS": json.dumps({"default": {"rate_per_second": 1, "burst": 2}})}
    with api_over_fakes(env) as (client, c):
        c.rate_limiter = FakeRateLimiter()
        yield client, c


def test_over_the_limit_post_orders_is_429_with_retry_after_and_nothing_done(throttled_api):
    client, c = throttled_api
    accepted = [post(client, valid_body(external_reference=f"r{i}")) for i in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]
    c.areas.fail = True  # any partner call from here on would be a 503, not a 429
    orders_before, sent_before = dict(c.repository.orders), list(c.queue.sent)
    response = post(client, valid_body(external_reference="r3"))
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    problem = json.loads(response.body)
    assert problem["code"] == "RATE_LIMITED" and problem["status"] == 429
    assert "limite de requisições" in problem["detail"]
    assert c.repository.orders == orders_before and c.queue.sent == sent_before
    assert c.rate_limiter.asked[-1].startswith("orders:")


def test_throttled_before_the_body_is_even_read(throttled_api):
    client, c = throttled_api
    calls = []
    c.areas.get_area = lambda code: calls.append(code)  # would be the first partner call
    c.repository = None  # any database access would fail with a 500
    for _ in range(2):
        c.rate_limiter.acquire(f"orders:{_client_id()}", RateLimit(rate_per_second=1, burst=2))
    response = post(client, b"{not json")
    assert response.status_code == 429 and calls == []


def test_the_bucket_refills_and_the_caller_is_served_again(throttled_api):
    client, c = throttled_api
    for i in range(2):
        assert post(client, valid_body(external_reference=f"a{i}")).status_code == 202
    assert post(client, valid_body(external_reference="a2")).status_code == 429
    c.rate_limiter.advance(1.0)
    assert post(client, valid_body(external_reference="a3")).status_code == 202


def test_simulations_have_their_own_bucket_and_answer_429_before_any_partner_call(throttled_api):
    client, c = throttled_api
    for i in range(2):
        assert post(client, valid_body(external_reference=f"s{i}")).status_code == 202
    partner_calls = []
    c.quorum_simulator = _Recorder(partner_calls)
    for _ in range(2):  # a fresh bucket for simulations: orders did not use it up
        c.rate_limiter.acquire(f"simulations:{_client_id()}", RateLimit(rate_per_second=1, burst=2))
    response = client.http.post(
        "/v1/quorum/simulations",
        body=json.dumps({"cnpj": "11222333000181", "power_code": "ASSINAR"}),
        headers={"Content-Type": "application/json", **AUTH},
    )
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert partner_calls == []
    assert sorted({b.split(":")[0] for b in c.rate_limiter.asked}) == ["orders", "simulations"]


def test_reads_are_not_throttled_per_caller(throttled_api):
    client, c = throttled_api
    for _ in range(5):
        assert client.http.get("/v1/orders?limit=5", headers=AUTH).status_code != 429
    assert c.rate_limiter.asked == []


def _client_id() -> str:
    return "portal-bff"  # the client_id of tests.unit.test_api_routes.AUTH


class _Recorder:
    def __init__(self, calls):
        self.calls = calls

    def simulate(self, body):
        self.calls.append(body)
        return {}
