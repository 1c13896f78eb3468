"""GET /v1/orders/{key} as a conditional read that may wait for a change: ETag and If-None-Match (RFC 9110),
`Prefer: wait` (RFC 7240). What the portal's live status uses instead of reading every few milliseconds."""

import json
import re
import threading
import time
from datetime import UTC, datetime

from chalicelib.services.search import MAX_WAIT_SECONDS
from tests.support import wait_for
from tests.unit.test_api_routes import AUTH, api, post  # noqa: F401 (the fixture)
from tests.unit.test_order_request import valid_body


def created(client) -> tuple[str, str]:
    key = json.loads(post(client, valid_body()).body)["order_key"]
    response = client.http.get(f"/v1/orders/{key}", headers=AUTH)
    assert response.status_code == 200
    return key, response.headers["ETag"]


def get(client, key, **headers):
    started = time.monotonic()
    response = client.http.get(f"/v1/orders/{key}", headers={**AUTH, **headers})
    return response, time.monotonic() - started


def waiting_read_while_claimed(client, c, key, etag):
    """A read waiting for a change (Prefer: wait=10), while another thread claims the order once it waits."""

    def claim_once_the_reader_waits():
        wait_for(lambda: key in c.order_changes._listeners, timeout=10, interval=0.005, what="a waiting read")
        c.repository.claim(key, "exec-1", datetime.now(UTC))

    claimer = threading.Thread(target=claim_once_the_reader_waits)
    claimer.start()
    try:
        return get(client, key, **{"If-None-Match": etag, "Prefer": "wait=10"})
    finally:
        claimer.join()


def test_the_representation_has_an_etag_and_the_caller_holding_it_gets_304_without_a_body(api):
    client, _ = api
    key, etag = created(client)
    assert re.fullmatch(r'"\d+\.\d+\.[0-9a-f]{32}"', etag)  # version, updated_at, the body's digest
    again, _ = get(client, key, **{"If-None-Match": etag})
    assert (again.status_code, again.body, again.headers["ETag"]) == (304, b"", etag)
    assert get(client, key, **{"If-None-Match": f'"other", W/{etag}'})[0].status_code == 304  # weak comparison
    assert get(client, key, **{"If-None-Match": '"other"'})[0].status_code == 200
    assert get(client, key, **{"If-None-Match": "*"})[0].status_code == 304


def test_a_waiting_read_answers_as_soon_as_the_status_changes(api):
    client, c = api
    key, etag = created(client)
    c.repository._on_status_change = c.order_changes.announce
    response, took = waiting_read_while_claimed(client, c, key, etag)
    assert response.status_code == 200
    assert json.loads(response.body)["status"] == "PROCESSING"
    assert response.headers["ETag"] != etag and response.headers["Preference-Applied"] == "wait=10"
    assert took < 5  # woken by the change, not by the end of the wait


def test_a_waiting_read_with_nothing_new_answers_304_once_the_wait_is_over(api):
    client, _ = api
    key, etag = created(client)
    response, took = get(client, key, **{"If-None-Match": etag, "Prefer": "respond-async, wait=1"})
    assert (response.status_code, response.headers["Preference-Applied"]) == (304, "wait=1")
    assert response.headers["ETag"] == etag
    assert took >= 1


def test_a_caller_without_the_current_representation_is_answered_at_once(api):
    client, _ = api
    key, _ = created(client)
    response, took = get(client, key, **{"If-None-Match": '"old"', "Prefer": "wait=99999"})
    assert response.status_code == 200 and took < MAX_WAIT_SECONDS / 2
    assert response.headers["Preference-Applied"] == f"wait={MAX_WAIT_SECONDS}"  # capped


def test_a_malformed_or_unconditional_wait_is_ignored(api):
    client, _ = api
    key, etag = created(client)
    for prefer in ("wait=abc", "wait=0", "wait=-1", "waitress=5", ""):
        response, took = get(client, key, **{"If-None-Match": etag, "Prefer": prefer})
        assert response.status_code == 304 and "Preference-Applied" not in response.headers and took < 1
    response, took = get(client, key, Prefer="wait=10")  # nothing to compare with: nothing to wait for
    assert response.status_code == 200 and "Preference-Applied" not in response.headers and took < 1


def test_waiting_on_another_areas_order_is_404_at_once(api):
    client, c = api
    key, etag = created(client)
    c.repository.orders[key] = c.repository.orders[key].model_copy(update={"area_code": "OUTRA_AREA"})
    response, took = get(client, key, **{"If-None-Match": etag, "Prefer": "wait=10"})
    assert response.status_code == 404 and took < 1


def test_a_change_nobody_announced_is_seen_at_the_next_re_read(api):
    client, c = api
    key, etag = created(client)
    assert c.repository._on_status_change is None
    response, took = waiting_read_while_claimed(client, c, key, etag)
    assert json.loads(response.body)["status"] == "PROCESSING" and took < 5


def test_a_caller_over_its_limit_of_held_reads_is_answered_at_once_not_refused(api):
    from chalicelib.adapters.rate_limit import InProcessRateLimiter
    from chalicelib.domain.throttling import CallerLimits
    from chalicelib.services.throttling import CallerThrottle

    client, c = api
    key, etag = created(client)
    one_then_none = CallerLimits.model_validate({"default": {"rate_per_second": 0.001, "burst": 1}})
    c.caller_throttle = CallerThrottle(InProcessRateLimiter(), one_then_none)
    held, took = get(client, key, **{"If-None-Match": etag, "Prefer": "wait=1"})
    assert held.status_code == 304 and held.headers["Preference-Applied"] == "wait=1" and took >= 1
    at_once, took = get(client, key, **{"If-None-Match": etag, "Prefer": "wait=10"})
    assert at_once.status_code == 304 and "Preference-Applied" not in at_once.headers and took < 1


def test_a_pending_order_whose_stamp_holds_is_not_read_in_full_while_the_read_waits(api):
    client, c = api
    key, etag = created(client)
    full_reads = []
    original = c.repository.get_order
    c.repository.get_order = lambda k: full_reads.append(k) or original(k)
    response, took = get(client, key, **{"If-None-Match": etag, "Prefer": "wait=1"})
    assert (response.status_code, response.headers["ETag"]) == (304, etag) and took >= 1
    assert full_reads == []  # one row per re-read, never the order with its parties and documents


def test_a_re_drive_moves_the_stamp_and_the_waiting_read_answers_with_the_new_representation(api):
    client, c = api
    key, etag = created(client)
    order = c.repository.orders[key]
    later = order.updated_at.replace(microsecond=(order.updated_at.microsecond + 1) % 1_000_000)
    c.repository.orders[key] = order.model_copy(update={"updated_at": later})  # what a re-drive writes
    response, took = get(client, key, **{"If-None-Match": etag, "Prefer": "wait=10"})
    assert response.status_code == 200 and response.headers["ETag"] != etag and took < 5
