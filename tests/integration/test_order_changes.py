"""The OrderChanges contract over this process's listeners and Redis pub/sub (what the API's waiting reads
and the workflow's functions share in AWS): a change announced after listening wakes the wait at once, a
change of another order does not, and Redis down costs a warning, never an error."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from chalicelib.adapters.order_changes import InProcessOrderChanges, RedisOrderChanges

# Far longer than an announcement takes: a wait that returns True well before it was woken, not timed out.
LONG_WAIT_SECONDS = 20.0


@pytest.fixture(params=["in_process", "redis"])
def changes(request) -> Iterator[InProcessOrderChanges | RedisOrderChanges]:
    if request.param == "in_process":
        yield InProcessOrderChanges()
        return
    yield RedisOrderChanges(request.getfixturevalue("redis_url"), prefix=f"ame-test-{uuid.uuid4().hex}:")


def test_contract_an_announcement_after_listening_wakes_the_wait_at_once(changes):
    with changes.listen("01ORDERA") as listener:
        announcer = threading.Thread(target=changes.announce, args=("01ORDERA",))
        started = time.monotonic()
        announcer.start()
        assert listener.wait(LONG_WAIT_SECONDS) is True
        assert time.monotonic() - started < LONG_WAIT_SECONDS / 2
        announcer.join()


def test_contract_an_announcement_between_listening_and_waiting_is_not_lost(changes):
    with changes.listen("01ORDERA") as listener:
        changes.announce("01ORDERA")  # e.g. while the reader was reading the order
        assert listener.wait(LONG_WAIT_SECONDS) is True
        assert listener.wait(0.05) is False  # heard once


def test_contract_another_orders_change_does_not_wake_the_wait(changes):
    with changes.listen("01ORDERA") as listener:
        changes.announce("01ORDERB")
        assert listener.wait(0.2) is False


def test_contract_every_listener_of_the_order_hears_it(changes):
    with changes.listen("01ORDERA") as first, changes.listen("01ORDERA") as second:
        changes.announce("01ORDERA")
        assert first.wait(LONG_WAIT_SECONDS) and second.wait(LONG_WAIT_SECONDS)


def test_in_process_listeners_are_forgotten_when_they_stop_listening():
    changes = InProcessOrderChanges()
    with changes.listen("01ORDERA"):
        pass
    changes.announce("01ORDERA")
    assert changes._listeners == {}


def test_redis_down_announcing_warns_and_listening_falls_back_to_the_reader_own_schedule(caplog):
    changes = RedisOrderChanges("redis://127.0.0.1:1/0")  # nothing listens there
    changes.announce("01ORDERA")
    with changes.listen("01ORDERA") as listener:
        started = time.monotonic()
        assert listener.wait(0.1) is False
        assert time.monotonic() - started >= 0.1  # it still waited: the reader does not spin
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("could not announce 01ORDERA" in w for w in warnings)
    assert any("could not listen on 01ORDERA" in w for w in warnings)
