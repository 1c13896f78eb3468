"""The result queue's consumer against the simulator and a webhook receiver on loopback: signed webhooks
retried to success or to the DLQ, one notification per signer and channel, one envelope-ready message."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from ame_local.simulator import scenarios as sc
from ame_local.webhook_receiver import DROP
from chalicelib.bootstrap import container
from chalicelib.entrypoints import presenters
from chalicelib.queues import QUEUES
from tests.integration.delivery.conftest import (
    create_order,
    delete_messages,
    invoke_result_handler,
    peek,
    result_poller_paused,
    take_result_messages,
    terminal,
)
from tests.support import wait_for

RESULT_DLQ = QUEUES["result"].dlq_name
ENVELOPE_READY = QUEUES["envelope_ready"].name


def ref(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def order_view(stack, order_key: str) -> dict:
    """What GET /v1/orders/{order_key} answers (its presenter, without the route's authentication)."""
    view = presenters.order_view(
        container().repository.get_order(order_key), container().deliveries.for_order(order_key)
    )
    return json.loads(json.dumps(view))


def ready_messages(order_key: str) -> list[dict]:
    return [json.loads(m["body"]) for m in peek(ENVELOPE_READY) if json.loads(m["body"])["order_key"] == order_key]


def notifications_of(stack, order_key: str) -> list[str]:
    return [n["notification_id"] for n in stack.simulator.notifications() if n["variables"]["order_key"] == order_key]


def all_delivered(view: dict) -> bool:
    d = view["deliveries"]
    channels = [d["webhook"], d["envelope_ready"], *d["notifications"]]
    return all(c is None or c["delivered"] for c in channels) and d["envelope_ready"] is not None


def test_an_order_with_quorum_reaches_the_product_every_signer_and_envelope_creation_once(stack, receiver):
    key = create_order(sc.order_body("QUORUM_AB", ["PF_KNOWN"], external_reference=ref("seed")))
    terminal(key)

    view = wait_for(lambda: (v := order_view(stack, key)) and all_delivered(v) and v, what="every delivery")

    [webhook] = receiver.received(f"evt_{key}")
    assert webhook.verified and webhook.body["event_type"] == "ORDER_QUORUM_MET" and webhook.answered == 200
    signers = ["11144477735", "12345678909", sc.PF_KNOWN_CPF]
    expected = sorted(f"{key}:{cpf}:{channel}" for cpf in signers for channel in ("EMAIL", "SMS"))
    assert sorted(notifications_of(stack, key)) == expected
    assert sorted(n["notification_id"] for n in view["deliveries"]["notifications"]) == expected
    assert view["deliveries"]["webhook"]["attempts"] == 1 and view["deliveries"]["webhook"]["delivered_at"]
    [ready] = ready_messages(key)
    assert ready["ready_id"] == f"rdy_{key}" and ready["event_id"] == f"evt_{key}"


def test_a_receiver_failing_three_times_gets_the_event_once_more_after_each_failure(stack, receiver):
    reference = ref("flaky")
    receiver.plan(reference, [500, 500, 500])
    key = create_order(sc.order_body("NO_REPRESENTATIVES", external_reference=reference))
    terminal(key)

    view = wait_for(
        lambda: (v := order_view(stack, key))["deliveries"]["webhook"]["delivered"] and v,
        timeout=40,
        what="the webhook delivered",
    )

    answers = [r.answered for r in receiver.received(f"evt_{key}")]
    assert answers == [500, 500, 500, 200]
    assert len(receiver.accepted(f"evt_{key}")) == 1
    assert all(r.verified for r in receiver.received(f"evt_{key}"))
    assert view["deliveries"]["webhook"]["attempts"] == 4
    assert view["deliveries"]["envelope_ready"] is None and view["deliveries"]["notifications"] == []


def test_a_receiver_down_for_good_ends_in_the_dlq_with_the_history_saying_so(stack, receiver):
    reference = ref("down")
    receiver.plan(reference, [DROP] * 20)
    key = create_order(sc.order_body("NO_REPRESENTATIVES", external_reference=reference))
    terminal(key)

    dead = wait_for(
        lambda: [m for m in peek(RESULT_DLQ) if json.loads(m["body"]).get("order_key") == key],
        timeout=60,
        what="the event in the result DLQ",
    )

    assert json.loads(dead[0]["body"])["event_id"] == f"evt_{key}"
    attempts = QUEUES["result"].max_receive_count
    assert len(receiver.received(f"evt_{key}")) == attempts and receiver.accepted(f"evt_{key}") == []
    history = [h.detail or "" for h in container().repository.history(key)]
    assert any(f"após {attempts} tentativa(s): webhook" in h and "mensagens mortas" in h for h in history)
    webhook = order_view(stack, key)["deliveries"]["webhook"]
    assert (webhook["status"], webhook["delivered"], webhook["attempts"]) == ("FAILED", False, attempts)


class KilledAfterNotifying(BaseException):
    """The Lambda runtime going away: not an Exception, so nothing in the handler catches it."""


def test_a_redelivered_message_and_a_handler_killed_between_notifying_and_recording_send_nothing_twice(
    stack, monkeypatch
):
    with result_poller_paused(stack):
        key = create_order(sc.order_body("QUORUM_AB", external_reference=ref("killed")))
        terminal(key)
        message = take_result_messages(stack, {key})[key]
        service = container().delivery
        real = service._deliveries

        class DiesOnFirstEmail:
            def __getattr__(self, name):
                return getattr(real, name)

            def settle(self, settlement):
                if settlement.channel.startswith("EMAIL:"):
                    raise KilledAfterNotifying()
                return real.settle(settlement)

        monkeypatch.setattr(service, "_deliveries", DiesOnFirstEmail())
        with pytest.raises(KilledAfterNotifying):
            invoke_result_handler(stack, [message])
        monkeypatch.setattr(service, "_deliveries", real)
        assert notifications_of(stack, key) == [f"{key}:11144477735:EMAIL"]  # sent, never recorded

        # The same message comes back (twice, and as two concurrent copies) until the lease lapses.
        copy = {**message, "MessageId": str(uuid.uuid4())}
        wait_for(
            lambda: invoke_result_handler(stack, [message, copy]) == {"batchItemFailures": []},
            timeout=20,
            interval=0.5,
            what="the redelivered event to finish",
        )
        assert invoke_result_handler(stack, [message]) == {"batchItemFailures": []}
        delete_messages(stack, [message])

    sent = notifications_of(stack, key)
    assert sorted(sent) == sorted(
        f"{key}:{cpf}:{ch}" for cpf in ("11144477735", "12345678909") for ch in ("EMAIL", "SMS")
    )
    assert len(ready_messages(key)) == 1
    email = next(
        n
        for n in order_view(stack, key)["deliveries"]["notifications"]
        if n["notification_id"] == f"{key}:11144477735:EMAIL"
    )
    assert email["delivered"] and email["attempts"] >= 2


def _nine_orders(stack, tag: str, receiver=None, failing: int | None = None) -> tuple[list[str], dict]:
    references = [ref(f"{tag}{i}") for i in range(9)]
    if failing is not None:
        receiver.plan(references[failing], [500])
    keys = [create_order(sc.order_body("NO_REPRESENTATIVES", external_reference=r)) for r in references]
    for key in keys:
        terminal(key)
    return keys, take_result_messages(stack, set(keys))


def test_a_batch_of_ten_with_one_poisoned_record_dead_letters_it_and_delivers_the_rest_once(stack, receiver, caplog):
    with result_poller_paused(stack):
        keys, taken = _nine_orders(stack, "batch", receiver)
        poison = '{"event_type": "ORDER_QUORUM_MET", "order_key": '
        url = stack.queue_url("result")
        stack.sqs.send_message(QueueUrl=url, MessageBody=poison)

        def poisoned():
            for m in stack.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["All"]
            ).get("Messages", []):
                if m["Body"] == poison:
                    return m
                stack.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            return None

        bad = wait_for(poisoned, what="the poisoned message")
        batch = [*taken.values(), bad]
        with caplog.at_level(logging.ERROR):
            answer = invoke_result_handler(stack, batch)
        delete_messages(stack, batch)

    assert len(batch) == 10 and answer == {"batchItemFailures": []}
    [dead] = [m for m in peek(RESULT_DLQ) if m["body"] == poison]
    assert "JSON" in caplog.text and "dead-letter" in caplog.text
    assert all(len(receiver.received(f"evt_{k}")) == 1 and receiver.accepted(f"evt_{k}") for k in keys)


def test_a_batch_of_ten_with_one_failing_record_retries_only_that_record(stack, receiver):
    with result_poller_paused(stack):
        keys, taken = _nine_orders(stack, "retry", receiver, failing=4)
        extra_key = create_order(sc.order_body("NO_REPRESENTATIVES", external_reference=ref("tenth")))
        terminal(extra_key)
        taken.update(take_result_messages(stack, {extra_key}))
        batch = list(taken.values())
        answer = invoke_result_handler(stack, batch)
        failing = taken[keys[4]]
        delete_messages(stack, [m for m in batch if m is not failing])

    assert len(batch) == 10
    assert answer == {"batchItemFailures": [{"itemIdentifier": failing["MessageId"]}]}
    assert all(len(receiver.received(f"evt_{k}")) == 1 for k in [*keys[:4], *keys[5:], extra_key])
    # Back on the queue after its backoff, the failed one alone is delivered again, and succeeds.
    wait_for(lambda: receiver.accepted(f"evt_{keys[4]}"), timeout=30, what="the retried record")
    assert [r.answered for r in receiver.received(f"evt_{keys[4]}")] == [500, 200]
