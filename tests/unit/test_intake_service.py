"""The intake use case against fakes of AME's own ports."""

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from chalicelib.adapters.cached_directories import CachedAreaDirectory, CachedDomainDirectory
from chalicelib.domain.errors import DependencyUnavailable, IdempotencyConflict, OrderValidationError
from chalicelib.domain.orders import OrderStatus, PartyRole
from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.services.intake import IntakeService, OutboxRelay
from tests.fakes import DictCache, FixedClock, InMemoryOrderRepository, RecordingQueue, StaticAreas, StaticDomains
from tests.unit.test_order_request import valid_body

AREA = AreaSettings.model_validate(
    {
        "area_code": "CREDITO_PJ",
        "name": "Crédito PJ",
        "active": True,
        "cost_center": "4471",
        "platforms": ["BANKLINE"],
        "signature_methods": ["DIGITAL"],
        "powers_check": True,
        "operator_check": True,
        "power_codes": {"requester": "ASSINAR_CCB", "guarantor": "PRESTAR_AVAL"},
        "limits": {"max_amount": "5000000.00", "max_guarantors": 2, "max_documents": 2},
        "webhook": {"url": "http://127.0.0.1:9100/hooks/credito-pj", "secret_ref": "ame/webhooks/CREDITO_PJ"},
    }
)
INACTIVE = AREA.model_copy(update={"area_code": "OLD", "active": False})
DOMAINS = {
    "products": DomainValues.model_validate(
        {
            "domain": "products",
            "values": [
                {"key": "CCB_GIRO", "label": "CCB Giro", "active": True},
                {"key": "OLD_PRODUCT", "label": "Old", "active": False},
            ],
        }
    ),
    "document_types": DomainValues.model_validate(
        {"domain": "document_types", "values": [{"key": "CCB", "label": "CCB", "active": True}]}
    ),
}


@pytest.fixture()
def world():
    repo, queue, clock = InMemoryOrderRepository(), RecordingQueue(), FixedClock()
    areas, domains = StaticAreas({"CREDITO_PJ": AREA, "OLD": INACTIVE}), StaticDomains(DOMAINS)
    executor = ThreadPoolExecutor(4)
    service = IntakeService(areas, domains, repo, queue, clock, executor)
    yield service, repo, queue, clock, areas, domains
    executor.shutdown()


def codes(exc_info):
    return {(e.field, e.code) for e in exc_info.value.errors}


def test_valid_order_is_stored_as_received_and_queued(world):
    service, repo, queue, *_ = world
    result = service.create("local", valid_body())
    order = result.order
    assert order.status is OrderStatus.RECEIVED and not result.replayed
    assert order.amount == Decimal("250000.00")
    assert order.requester.power_code == "ASSINAR_CCB" and order.requester.role is PartyRole.REQUESTER
    assert order.guarantors[0].power_code is None  # a PF party has no power code
    assert queue.sent == [("creation", json.dumps({"order_key": order.order_key}))]
    # Sent, not yet marked: the creation consumer marks it when the message reaches it.
    assert [m.published_at for m in repo.outbox.values()] == [None]


def test_the_workflows_claim_marks_the_creation_message_so_the_relay_leaves_it(world):
    from chalicelib.services.launch import CreationMessage, WorkflowLauncher

    service, repo, queue, clock, *_ = world
    order = service.create("local", valid_body()).order
    started = []

    class Starter:
        def start(self, order_key, payload, execution_name):
            started.append(execution_name)
            return True

    assert WorkflowLauncher(repo, Starter(), clock).launch(CreationMessage(order.order_key)) is True
    assert started == [order.order_key]
    # Started, not marked: the execution's claim marks it, in the claim's own transaction.
    assert [m.published_at for m in repo.outbox.values()] == [None]
    repo.claim(order.order_key, "exec-1", clock.now())
    assert all(m.published_at is not None for m in repo.outbox.values())
    clock.advance(31)
    assert OutboxRelay(repo, queue, clock, min_age_seconds=30).run_once() == 0
    assert len(queue.sent) == 1


@pytest.mark.parametrize("why", ["duplicate", "terminal"])
def test_a_creation_message_that_starts_nothing_is_marked_by_the_launcher(world, why):
    from chalicelib.services.launch import CreationMessage, WorkflowLauncher

    service, repo, queue, clock, *_ = world
    order = service.create("local", valid_body()).order
    if why == "terminal":
        repo.claim(order.order_key, "exec-1", clock.now())
        assert repo.transition(order.order_key, [OrderStatus.PROCESSING], OrderStatus.FAILED, clock.now(), "x")
        repo.outbox.update({k: m.model_copy(update={"published_at": None}) for k, m in repo.outbox.items()})

    class Starter:
        def start(self, order_key, payload, execution_name):
            assert why == "duplicate", "a decided order is never started again"
            return False  # the execution for this attempt already exists

    assert WorkflowLauncher(repo, Starter(), clock).launch(CreationMessage(order.order_key)) is False
    assert all(m.published_at is not None for m in repo.outbox.values())
    clock.advance(31)
    assert OutboxRelay(repo, queue, clock, min_age_seconds=30).run_once() == 0


def test_a_creation_message_never_consumed_is_sent_again_by_the_relay_once(world):
    service, repo, queue, clock, *_ = world
    service.create("local", valid_body())
    relay = OutboxRelay(repo, queue, clock, min_age_seconds=30)
    assert relay.run_once() == 0
    clock.advance(31)
    assert relay.run_once() == 1 and len(queue.sent) == 2  # the repeat is a no-op for the consumer
    assert relay.run_once() == 0


def test_queue_failure_still_accepts_and_leaves_the_outbox_for_the_relay(world):
    service, repo, queue, clock, *_ = world
    queue.fail_with = RuntimeError("sqs down")
    order = service.create("local", valid_body()).order
    assert order.order_key in repo.orders
    queue.fail_with = None
    relay = OutboxRelay(repo, queue, clock, min_age_seconds=30)
    assert relay.run_once() == 0  # too young: the request path may still be sending it
    clock.advance(31)
    assert relay.run_once() == 1
    assert queue.sent == [("creation", json.dumps({"order_key": order.order_key}))]
    assert relay.run_once() == 0


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"area_code": "NOPE"}, ("area_code", "AREA_NOT_FOUND")),
        ({"area_code": "OLD"}, ("area_code", "AREA_INACTIVE")),
        ({"platform": "MOBILE"}, ("platform", "PLATFORM_NOT_ALLOWED")),
        ({"signature_method": "PAPER"}, ("signature_method", "SIGNATURE_METHOD_NOT_ALLOWED")),
        ({"amount": "5000000.01"}, ("amount", "AMOUNT_ABOVE_LIMIT")),
        ({"product_code": "UNKNOWN"}, ("product_code", "DOMAIN_KEY_NOT_FOUND")),
        ({"product_code": "OLD_PRODUCT"}, ("product_code", "DOMAIN_KEY_INACTIVE")),
        (
            {"documents": [{"document_type": "XYZ", "title": "t"}]},
            ("documents[0].document_type", "DOMAIN_KEY_NOT_FOUND"),
        ),
        ({"guarantors": [{"person_type": "PF", "document": "52998224725"}] * 3}, ("guarantors", "TOO_MANY_GUARANTORS")),
        ({"documents": [{"document_type": "CCB", "title": "t"}] * 3}, ("documents", "TOO_MANY_DOCUMENTS")),
        (
            {"guarantors": [{"person_type": "PJ", "document": "11222333000181"}]},
            ("guarantors[0].document", "DUPLICATE_PARTY"),
        ),
    ],
)
def test_business_rule_violations_are_422_with_the_field_and_store_nothing(world, changes, expected):
    service, repo, queue, *_ = world
    with pytest.raises(OrderValidationError) as info:
        service.create("local", valid_body(**changes))
    assert expected in codes(info)
    assert repo.orders == {} and repo.outbox == {} and queue.sent == []


def test_amount_exactly_at_the_area_limit_is_accepted(world):
    service, *_ = world
    assert service.create("local", valid_body(amount="5000000.00")).order.amount == Decimal("5000000.00")


def test_all_violations_are_reported_together(world):
    service, *_ = world
    with pytest.raises(OrderValidationError) as info:
        service.create("local", valid_body(platform="X", signature_method="Y", product_code="Z"))
    assert {f for f, _ in codes(info)} == {"platform", "signature_method", "product_code"}


def test_partner_down_is_dependency_unavailable_and_stores_nothing(world):
    service, repo, *_, areas, domains = world
    areas.fail = True
    with pytest.raises(DependencyUnavailable):
        service.create("local", valid_body())
    assert repo.orders == {}


def test_same_idempotency_key_and_body_replays_the_first_order(world):
    service, repo, queue, *_ = world
    first = service.create("local", valid_body(), "key-1")
    # The same body with the documents formatted differently is the same request.
    body = valid_body(requester={"person_type": "PJ", "document": "11222333000181"})
    again = service.create("local", body, "key-1")
    assert again.replayed and again.order.order_key == first.order.order_key
    assert len(repo.orders) == 1 and len(queue.sent) == 1


def test_same_idempotency_key_with_another_body_conflicts(world):
    service, repo, *_ = world
    service.create("local", valid_body(), "key-1")
    with pytest.raises(IdempotencyConflict):
        service.create("local", valid_body(amount="1.00"), "key-1")
    assert len(repo.orders) == 1


def test_idempotency_keys_are_scoped_per_caller(world):
    service, repo, *_ = world
    a = service.create("product-a", valid_body(), "key-1")
    b = service.create("product-b", valid_body(), "key-1")
    assert a.order.order_key != b.order.order_key and len(repo.orders) == 2


def test_warm_cache_skips_parametrizador_and_dominios(world):
    _, repo, queue, clock, areas, domains = world
    cache = DictCache()
    executor = ThreadPoolExecutor(4)
    service = IntakeService(
        CachedAreaDirectory(areas, cache, 300), CachedDomainDirectory(domains, cache, 300), repo, queue, clock, executor
    )
    service.create("local", valid_body())
    calls = (areas.calls, domains.calls)
    service.create("local", valid_body())
    assert (areas.calls, domains.calls) == calls
    executor.shutdown()


def test_unknown_area_is_not_cached(world):
    _, repo, queue, clock, areas, domains = world
    cache = DictCache()
    cached = CachedAreaDirectory(areas, cache, 300)
    assert cached.get_area("NOPE") is None
    assert cached.get_area("NOPE") is None
    assert areas.calls == 2
