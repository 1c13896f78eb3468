"""DeliveryService over fakes: what each event delivers, once per channel, retried with backoff, given up."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.adapters.webhooks import WebhookAttempt
from chalicelib.services.delivery import (
    ClaimRequest,
    DeliveryService,
    PoisonedEvent,
    RetryLater,
    backoff_seconds,
)
from chalicelib.services.ports import PartnerUnavailable
from chalicelib.settings import DeliveryPolicy
from tests.fakes import FixedClock, InMemoryDeliveryRepository, InMemoryOrderRepository, RecordingQueue

KEY = "01JDELIVERY0000000000000AB"
MARIA, JOAO, ANA = "52998224725", "11144477735", "39053344705"
HOOK = {"url": "http://127.0.0.1:9100/hooks/credito-pj", "secret_ref": "ame/webhooks/CREDITO_PJ"}


def event(event_type: str = "ORDER_QUORUM_MET", signers: list[str] | None = None, key: str = KEY, **extra: Any) -> str:
    signers = [MARIA, JOAO] if signers is None else signers
    return json.dumps(
        {
            "event_id": f"evt_{key}",
            "event_type": event_type,
            "order_key": key,
            "area_code": "CREDITO_PJ",
            "external_reference": "contrato-123",
            "occurred_at": "2026-11-29T10:00:02Z",
            "status": event_type.removeprefix("ORDER_"),
            "result": {
                "quorum_met": event_type == "ORDER_QUORUM_MET",
                "parties": [{"role": "REQUESTER", "eligible_signers": signers, "participants": []}],
            },
            **extra,
        }
    )


class Orders:
    def __init__(self, webhook: dict | None = HOOK):
        snapshot = {"name": "Crédito PJ", **({"webhook": webhook} if webhook else {})}
        self.order = {"order_key": KEY, "status": "QUORUM_MET", "area_code": "CREDITO_PJ", "area_snapshot": snapshot}
        self.keys = {KEY}  # orders that exist; all alike
        self.people = [
            {"cpf": MARIA, "name": "Maria Souza", "email": "maria@example.com", "phone": "+5511999990000"},
            {"cpf": JOAO, "name": "João Lima", "email": None, "phone": "+5511988880000"},
            {"cpf": ANA, "name": "Ana Reis", "email": None, "phone": None},
        ]

    def party_details(self, order_key: str):
        return {0: {"participants": self.people}}


class Deliveries(InMemoryDeliveryRepository):
    """The shared in-memory DeliveryStore (tests/fakes.py, held to the SQL adapter's rules by the contract
    suite), over the Orders stub above, recording what was asked of it and able to fail like a database."""

    def __init__(self, orders: Orders) -> None:
        super().__init__(InMemoryOrderRepository())
        self.orders = orders
        self.history: list[str] = []  # the history rows given-up deliveries wrote
        self.calls: list[str] = []  # what was asked of the store, in order
        self.down: Exception | None = None

    def order_contexts(self, order_keys):
        self.calls.append(f"order_contexts {sorted(order_keys)}")
        if self.down is not None:
            raise self.down
        return {k: {**self.orders.order, "order_key": k} for k in order_keys if k in self.orders.keys}

    def claim_many(self, requests, now, lease_seconds, cap=None):
        self.calls.append(f"claim_many {len(requests)}")
        return super().claim_many(requests, now, lease_seconds, cap)

    def settle(self, settlement):
        self.calls.append(f"settle {settlement.order_key} {settlement.channel}")
        super().settle(settlement)

    def _record_history(self, order_key, detail, at):
        self.history.append(detail)


class Webhooks:
    def __init__(self, answers: list[int] | None = None, failing: set[str] = frozenset(), log: list | None = None):
        self.answers = list(answers or [])
        self.failing = failing  # webhook ids answered 500
        self.calls: list[tuple[str, str, bytes]] = []
        self.log = log

    def send(self, url, secret_ref, webhook_id, body):
        self.calls.append((url, webhook_id, body))
        if self.log is not None:
            self.log.append(f"post {webhook_id}")
        status = 500 if webhook_id in self.failing else self.answers.pop(0) if self.answers else 200
        return WebhookAttempt(200 <= status < 300, status, None if status < 300 else f"HTTP {status}")

    def start(self, url, secret_ref, webhook_id, body):
        return None

    @staticmethod
    def describe(url):
        return url


class Notifications:
    def __init__(self, fail: bool = False, log: list | None = None):
        self.sent: list[dict[str, Any]] = []
        self.fail = fail
        self.log = log

    def send(self, notification_id, channel, recipient, template, variables):
        if self.log is not None:
            self.log.append(f"notify {notification_id}")
        if self.fail:
            raise PartnerUnavailable("notificacao", "server error", 503)
        self.sent.append(
            {
                "notification_id": notification_id,
                "channel": channel,
                "recipient": recipient,
                "template": template,
                "variables": variables,
            }
        )
        return True


def service(webhooks=None, notifications=None, orders=None, queue=None, clock=None):
    orders = orders or Orders()
    parts = SimpleNamespace(
        webhooks=webhooks or Webhooks(),
        notifications=notifications or Notifications(),
        orders=orders,
        deliveries=Deliveries(orders),
        queue=queue or RecordingQueue(),
        clock=clock or FixedClock(),
    )
    settings = DeliveryPolicy(backoff_base_seconds=10, backoff_max_seconds=60, lease_seconds=30)
    parts.service = DeliveryService(
        parts.orders,
        parts.deliveries,
        parts.webhooks,
        parts.notifications,
        parts.queue,
        parts.clock,
        settings,
        max_attempts=5,
        rand=lambda: 1.0,
    )
    return parts


def test_quorum_met_notifies_every_eligible_signer_on_each_known_channel():
    s = service()
    s.service.deliver(event())
    assert [(n["notification_id"], n["recipient"]) for n in s.notifications.sent] == [
        (f"{KEY}:{MARIA}:EMAIL", "maria@example.com"),
        (f"{KEY}:{MARIA}:SMS", "+5511999990000"),
        (f"{KEY}:{JOAO}:SMS", "+5511988880000"),
    ]
    first = s.notifications.sent[0]
    assert first["template"] == "ORDEM_PENDENTE_ASSINATURA"
    assert first["variables"] == {"name": "Maria Souza", "order_key": KEY, "area_name": "Crédito PJ"}


def test_quorum_met_posts_the_webhook_and_hands_the_order_on_once():
    s = service()
    body = event()
    s.service.deliver(body)
    assert s.webhooks.calls == [(HOOK["url"], f"evt_{KEY}", body.encode())]
    [(queue, message)] = s.queue.sent
    assert queue == "envelope_ready"
    assert json.loads(message)["ready_id"] == f"rdy_{KEY}" and json.loads(message)["order_key"] == KEY


def test_no_quorum_only_tells_the_product():
    s = service()
    s.service.deliver(event("ORDER_NO_QUORUM"))
    assert len(s.webhooks.calls) == 1 and s.notifications.sent == [] and s.queue.sent == []


def test_an_area_without_webhook_gets_no_post():
    s = service(orders=Orders(webhook=None))
    s.service.deliver(event())
    assert s.webhooks.calls == [] and len(s.queue.sent) == 1


def test_a_signer_without_email_or_phone_is_not_notified():
    s = service()
    s.service.deliver(event(signers=[ANA]))
    assert s.notifications.sent == []


def test_a_redelivered_event_repeats_nothing():
    s = service()
    s.service.deliver(event(), receive_count=1)
    s.service.deliver(event(), receive_count=2)
    assert len(s.webhooks.calls) == 1 and len(s.notifications.sent) == 3 and len(s.queue.sent) == 1


def test_a_failed_webhook_retries_later_without_redoing_what_was_delivered():
    s = service(webhooks=Webhooks([500]))
    with pytest.raises(RetryLater) as retry:
        s.service.deliver(event(), receive_count=1)
    assert retry.value.delay_seconds == 10
    s.service.deliver(event(), receive_count=2)
    assert len(s.webhooks.calls) == 2 and len(s.notifications.sent) == 3 and len(s.queue.sent) == 1
    assert s.deliveries.rows[(KEY, "WEBHOOK")].attempts == 2


def test_backoff_doubles_with_jitter_up_to_the_cap():
    assert [backoff_seconds(n, 10, 60, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
    assert [backoff_seconds(n, 10, 60, lambda: 0.0) for n in (1, 2, 3)] == [5, 10, 20]


def test_the_last_attempt_gives_up_records_the_history_and_lets_the_event_go_at_once():
    s = service(webhooks=Webhooks([500] * 5))
    for attempt in range(1, 5):
        with pytest.raises(RetryLater):
            s.service.deliver(event("ORDER_NO_QUORUM"), receive_count=attempt)
    assert s.deliveries.history == []
    with pytest.raises(RetryLater) as last:
        s.service.deliver(event("ORDER_NO_QUORUM"), receive_count=5)
    assert last.value.delay_seconds == 0
    [detail] = s.deliveries.history
    assert "5 tentativa(s)" in detail and "webhook" in detail and "HTTP 500" in detail
    assert s.deliveries.rows[(KEY, "WEBHOOK")].status == "FAILED"


def test_a_notification_partner_down_is_retried_and_masks_the_cpf_in_the_history():
    s = service(notifications=Notifications(fail=True))
    with pytest.raises(RetryLater):
        s.service.deliver(event(signers=[MARIA]), receive_count=5)
    assert all(MARIA not in h and "***.***.***-25" in h for h in s.deliveries.history)
    assert len(s.deliveries.history) == 2


def test_a_channel_leased_by_another_copy_is_retried_after_the_lease():
    s = service()
    clock = s.clock
    s.deliveries.claim_many([ClaimRequest(KEY, "WEBHOOK", "WEBHOOK", None)], clock.now(), 45)  # another copy
    with pytest.raises(RetryLater) as retry:
        s.service.deliver(event("ORDER_NO_QUORUM"))
    assert s.webhooks.calls == [] and retry.value.delay_seconds == 45


@pytest.mark.parametrize(
    "body, why",
    [
        ("{not json", "JSON"),
        (event(event_type="ORDER_SIGNED"), "event_type"),
        (json.dumps({"event_id": "x"}), "event_type"),
        (event().replace(KEY, "01JUNKNOWN0000000000000000"), "desconhecida"),
    ],
)
def test_malformed_or_unknown_events_are_poisoned_with_the_reason(body, why):
    s = service()
    with pytest.raises(PoisonedEvent, match=why):
        s.service.deliver(body)
    assert s.webhooks.calls == []


# -- a batch of events: the database work once before the attempts, which overlap ---------------------

K1, K2, K3 = "01JDELIVERY0000000000000K1", "01JDELIVERY0000000000000K2", "01JDELIVERY0000000000000K3"


def test_a_batch_reads_its_orders_once_claims_once_and_answers_each_event_on_its_own():
    s = service(webhooks=Webhooks(failing={f"evt_{K2}"}))
    s.orders.keys = {K1, K2}
    batch = [
        (event("ORDER_NO_QUORUM", key=K1), 1),
        ("{not json", 1),
        (event("ORDER_NO_QUORUM", key=K3), 1),
        (event("ORDER_NO_QUORUM", key=K2), 1),
        (event("ORDER_NO_QUORUM", key=K1), 1),
    ]

    with ThreadPoolExecutor(4) as executor:
        ok, bad, unknown, failed, repeated = s.service.deliver_batch(batch, executor)

    assert ok == {"order_key": K1, "event_id": f"evt_{K1}", "channels": 1}
    assert isinstance(bad, PoisonedEvent) and "JSON" in bad.reason
    assert isinstance(unknown, PoisonedEvent) and "desconhecida" in unknown.reason
    assert isinstance(failed, RetryLater) and failed.reasons == ["WEBHOOK: HTTP 500"] and failed.delay_seconds == 10
    # The same event twice in one batch: the second copy finds the channel leased by the first.
    assert isinstance(repeated, RetryLater) and "em andamento" in repeated.reasons[0]
    assert sorted(webhook_id for _, webhook_id, _ in s.webhooks.calls) == [f"evt_{K1}", f"evt_{K2}"]
    assert s.deliveries.calls[:2] == [f"order_contexts {sorted([K1, K2, K3])}", "claim_many 3"]
    assert sorted(s.deliveries.calls[2:]) == [f"settle {K1} WEBHOOK", f"settle {K2} WEBHOOK"]


def test_the_database_down_before_the_attempts_fails_every_event_of_the_batch_and_sends_nothing():
    s = service()
    s.orders.keys = {K1, K2}
    s.deliveries.down = ConnectionError("database down")
    with ThreadPoolExecutor(2) as executor:
        outcomes = s.service.deliver_batch([(event(key=K1), 1), (event(key=K2), 2)], executor)
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]
    assert s.webhooks.calls == [] and s.notifications.sent == [] and s.queue.sent == []


class LoggedQueue(RecordingQueue):
    def __init__(self, log: list):
        super().__init__()
        self.log = log

    def send(self, queue, body, delay_seconds=0):
        self.log.append(f"hand on {json.loads(body)['ready_id']}")
        return super().send(queue, body, delay_seconds)


def test_each_channel_of_an_event_is_recorded_before_the_next_one_is_attempted():
    # A crash then costs at most one effect without its record, as with one event at a time.
    s = service()
    log = s.deliveries.calls
    s.webhooks.log, s.notifications.log = log, log
    s.service._queue = LoggedQueue(log)
    s.orders.keys = {K1, K2}
    with ThreadPoolExecutor(2) as executor:
        s.service.deliver_batch([(event(key=K1, signers=[JOAO]), 1), (event("ORDER_NO_QUORUM", key=K2), 1)], executor)
    assert [c for c in log[2:] if K1 in c] == [
        f"post evt_{K1}",
        f"settle {K1} WEBHOOK",
        f"notify {K1}:{JOAO}:SMS",
        f"settle {K1} SMS:{JOAO}",
        f"hand on rdy_{K1}",
        f"settle {K1} ENVELOPE_READY",
    ]
    assert [c for c in log[2:] if K2 in c] == [f"post evt_{K2}", f"settle {K2} WEBHOOK"]


# -- the notification cap ------------------------------------------------------------------------------


def test_a_flood_of_orders_notifies_each_person_at_most_the_cap_and_records_the_rest_suppressed():
    from chalicelib.entrypoints.presenters import _notification_item

    s = service()
    s.service.settings = DeliveryPolicy(
        backoff_base_seconds=10, lease_seconds=30, notification_cap=3, notification_cap_window_seconds=3600
    )
    keys = [f"01JFLOOD{i:018d}" for i in range(20)]
    s.orders.keys = set(keys)
    for key in keys:
        s.clock.advance(1)
        summary = s.service.deliver(event(key=key))
        assert summary["channels"] == 5  # webhook, 3 notifications (sent or suppressed), envelope-ready
    per_person: dict[tuple[str, str], int] = {}
    for sent in s.notifications.sent:
        _, cpf, channel = sent["notification_id"].split(":")
        per_person[(cpf, channel)] = per_person.get((cpf, channel), 0) + 1
    assert per_person == {(MARIA, "EMAIL"): 3, (MARIA, "SMS"): 3, (JOAO, "SMS"): 3}
    assert len(s.webhooks.calls) == 20 and len(s.queue.sent) == 20  # the product is told about every order
    rows = [r for r in s.deliveries.for_order(keys[-1]) if r["kind"] == "NOTIFICATION"]
    shown = [_notification_item(keys[-1], r) for r in rows]
    assert {(n["channel"], n["status"], n["delivered"], n["attempts"]) for n in shown} == {
        ("EMAIL", "SUPPRESSED", False, 0),
        ("SMS", "SUPPRESSED", False, 0),
    }
    assert all(n["last_error"].startswith("suprimida") for n in shown)
    # An hour later the window has moved: the person is notified again.
    s.clock.advance(3600)
    late = "01JFLOODLATE00000000000000"
    s.orders.keys.add(late)
    s.service.deliver(event(key=late))
    assert [n["notification_id"] for n in s.notifications.sent[-3:]] == [
        f"{late}:{MARIA}:EMAIL",
        f"{late}:{MARIA}:SMS",
        f"{late}:{JOAO}:SMS",
    ]
