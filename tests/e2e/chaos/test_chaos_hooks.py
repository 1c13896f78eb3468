"""The local stack's chaos hooks: off by default, and doing exactly what the chaos suite relies on."""

from __future__ import annotations

import json
import random

import pytest

from ame_local.aws import CRASH_ERROR_TYPE, CrashInjector, LambdaDispatcher
from ame_local.config import ChaosConfig, CrashPlan, LocalConfig
from ame_local.pollers import DUPLICATE_AFTER_SECONDS, QueuePoller
from chalicelib.queues import QUEUES


def test_chaos_is_off_unless_the_environment_asks_for_it():
    assert not LocalConfig.from_env({}).chaos.active
    chaos = LocalConfig.from_env(
        {
            "AME_LOCAL_CHAOS_DUPLICATE_RATE": "0.1",
            "AME_LOCAL_CHAOS_SEED": "7",
            "AME_LOCAL_CHAOS_CRASHES": "conclude_order:3:after, load_order:1:before",
        }
    ).chaos
    assert chaos.active and chaos.duplicate_rate == 0.1 and chaos.seed == 7
    assert chaos.crashes == (CrashPlan("conclude_order", 3, "after"), CrashPlan("load_order", 1, "before"))


@pytest.mark.parametrize(
    "text",
    ["conclude_order:0:after", "conclude_order:3", "conclude_order:x:after", ":3:after", "conclude_order:3:during"],
)
def test_a_malformed_crash_plan_is_refused(text):
    with pytest.raises(ValueError):
        CrashPlan.parse(text)


def test_the_injector_kills_exactly_the_planned_invocations():
    injector = CrashInjector(ChaosConfig(crashes=(CrashPlan("fetch_powers", 2, "before"),)))
    decisions = [injector.decide("fetch_powers") for _ in range(4)] + [injector.decide("load_order")]
    assert decisions == [None, "before", None, None, None]
    assert injector.injected == [("fetch_powers", 2, "before")]


class _App:
    def __init__(self):
        self.calls = []
        self.handler_map = {"conclude_order": lambda event, context: self.calls.append(event) or {"ok": True}}


@pytest.mark.parametrize("when, handler_ran", [("before", False), ("after", True)])
def test_a_killed_worker_answers_a_lambda_service_failure(when, handler_ran):
    app = _App()
    dispatcher = LambdaDispatcher(app, CrashInjector(ChaosConfig(crashes=(CrashPlan("conclude_order", 1, when),))))
    headers: dict[str, str] = {}
    answer = json.loads(dispatcher.invoke("ame-local-conclude_order", b'{"order_key": "K"}', headers))
    assert headers["x-amz-function-error"] == "Unhandled" and answer["errorType"] == CRASH_ERROR_TYPE
    assert bool(app.calls) is handler_ran  # "after": the work is done, only the answer is lost
    assert json.loads(dispatcher.invoke("conclude_order", b"{}", {})) == {"ok": True}


class _Sqs:
    def __init__(self):
        self.deleted, self.delayed = [], []

    def delete_message_batch(self, QueueUrl, Entries):
        self.deleted += [e["ReceiptHandle"] for e in Entries]

    def change_message_visibility_batch(self, QueueUrl, Entries):
        self.delayed += [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in Entries]


def _message(n: int, receives: int) -> dict:
    return {
        "MessageId": f"m{n}",
        "ReceiptHandle": f"r{n}",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": str(receives)},
    }


def test_a_handled_record_is_delivered_again_only_after_its_first_receive():
    sqs = _Sqs()
    poller = QueuePoller(
        QUEUES["creation"], lambda event, context: None, sqs, "url", "arn", duplicate_rate=1.0, rng=random.Random(0)
    )
    poller.deliver([_message(1, receives=1), _message(2, receives=2)])
    assert sqs.delayed == [("r1", DUPLICATE_AFTER_SECONDS)] and sqs.deleted == ["r2"]
    assert poller.stats.duplicated == 1


def test_without_chaos_every_handled_record_is_deleted():
    sqs = _Sqs()
    poller = QueuePoller(QUEUES["creation"], lambda event, context: None, sqs, "url", "arn")
    poller.deliver([_message(1, receives=1)])
    assert sqs.deleted == ["r1"] and sqs.delayed == [] and poller.stats.duplicated == 0


def test_each_thread_of_the_local_api_sees_only_its_own_request():
    # Found by the chaos suite: concurrent POSTs stored each other's bodies under their order keys.
    import threading

    from chalice import Chalice

    from ame_local.stack import _requests_per_thread

    app = Chalice("per-thread")
    _requests_per_thread(app)
    app.current_request = "main"
    seen, ready = {}, threading.Barrier(2)

    def serve(name: str) -> None:
        app.current_request = name
        ready.wait()  # both threads have set theirs before either reads
        seen[name] = app.current_request

    threads = [threading.Thread(target=serve, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": "a", "b": "b"} and app.current_request == "main"
