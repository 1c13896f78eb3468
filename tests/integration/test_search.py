"""GET /v1/orders on SQLite and MariaDB: filters, newest first, keyset pages, signed cursors, index plans."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.repository import SqlOrderRepository
from chalicelib.adapters.db.schema import orders
from chalicelib.adapters.db.search import SqlOrderSearch, area_query
from chalicelib.auth import AreaNotAllowed, Caller
from chalicelib.bootstrap import Container, set_container
from chalicelib.domain.errors import OrderValidationError
from chalicelib.domain.keys import new_order_key
from chalicelib.domain.orders import OrderDraft, OrderParty, OrderRequest, OrderStatus, PartyRole, PersonType
from chalicelib.services.ports import OutboxMessage
from chalicelib.services.search import CursorCodec, OrderFilter, OrderQueries, Position, parse_query
from chalicelib.settings import Settings
from migrations.runner import upgrade
from tests.unit.test_api_routes import ENV
from tests.unit.test_auth_support import bearer, serving_jwks

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CNPJ = "11222333000181"
OTHER_CNPJ = "12ABC34501DE35"
CPF = "52998224725"


def store(
    repo: SqlOrderRepository,
    area: str,
    at: datetime,
    *,
    reference: str | None = None,
    requester: str = CNPJ,
    guarantor: str | None = None,
    caller: str = "bff",
) -> str:
    key = new_order_key(at, uuid.uuid4().bytes[:10])
    body = {
        "area_code": area,
        "product_code": "CCB_GIRO",
        "platform": "BANKLINE",
        "signature_method": "DIGITAL",
        "amount": "100.00",
        "requester": {"person_type": "PJ", "document": requester},
        "external_reference": reference,
    }
    parties = [OrderParty(position=0, role=PartyRole.REQUESTER, person_type=PersonType.PJ, document=requester)]
    if guarantor:
        body["guarantors"] = [{"person_type": "PF", "document": guarantor}]
        parties.append(OrderParty(position=1, role=PartyRole.GUARANTOR, person_type=PersonType.PF, document=guarantor))
    draft = OrderDraft(
        order_key=key,
        created_by=caller,
        request=OrderRequest.model_validate(body),
        area_snapshot={},
        parties=parties,
        created_at=at,
    )
    repo.create_order(
        draft, OutboxMessage(message_id=uuid.uuid4().hex, order_key=key, queue="creation", body="{}", created_at=at)
    )
    return key


def set_status(engine, key: str, status: OrderStatus) -> None:
    with engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.order_key == key).values(status=status.value))


@pytest.fixture(scope="module")
def world(engine):
    """Two fresh areas (unique per run: the MariaDB database is shared by the session's modules)."""
    suffix = uuid.uuid4().hex[:8].upper()
    a, b = f"A_{suffix}", f"B_{suffix}"
    repo = SqlOrderRepository(engine)
    keys_a = []
    for i in range(25):
        # Pairs share a created_at: the order key breaks the tie, and pages must not lose or repeat one.
        at = T0 + timedelta(minutes=i // 2)
        key = store(repo, a, at, reference=f"ref-{i}", guarantor=CPF if i % 5 == 0 else None)
        if i % 3 == 0:
            set_status(engine, key, OrderStatus.NO_QUORUM)
        keys_a.append((at, key, i))
    keys_b = [
        (
            T0 + timedelta(seconds=30 + 60 * i),
            store(repo, b, T0 + timedelta(seconds=30 + 60 * i), requester=OTHER_CNPJ),
            i,
        )
        for i in range(5)
    ]
    queries = OrderQueries(repo, SqlOrderSearch(engine), CursorCodec(b"test-secret"))
    return {"a": a, "b": b, "keys_a": keys_a, "keys_b": keys_b, "queries": queries, "engine": engine}


def newest_first(entries):
    return [key for at, key, _ in sorted(entries, key=lambda e: (e[0], e[1]), reverse=True)]


def walk(queries, caller, **params):
    keys, cursor, pages = [], None, 0
    while True:
        query = {k: [str(v)] for k, v in params.items()}
        if cursor:
            query["cursor"] = [cursor]
        page = queries.search(caller, parse_query(query))
        keys += [s.order_key for s in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return keys, pages


def test_pages_walk_every_order_of_the_area_once_newest_first(world):
    caller = Caller("bff", frozenset({"ame:orders:read"}), frozenset({world["a"]}))
    keys, pages = walk(world["queries"], caller, limit=10)
    assert keys == newest_first(world["keys_a"])
    assert pages == 3


def test_a_caller_of_two_areas_gets_both_merged_in_time_order(world):
    caller = Caller("bff", frozenset(), frozenset({world["a"], world["b"]}))
    keys, _ = walk(world["queries"], caller, limit=7)
    assert keys == newest_first(world["keys_a"] + world["keys_b"])


def test_filters_by_status_reference_documents_and_time(world):
    caller = Caller("bff", frozenset(), frozenset({world["a"], world["b"]}))
    q = world["queries"]
    no_quorum, _ = walk(q, caller, area_code=world["a"], status="NO_QUORUM", limit=3)
    assert no_quorum == newest_first([e for e in world["keys_a"] if e[2] % 3 == 0])
    by_reference, _ = walk(q, caller, external_reference="ref-7")
    assert by_reference == [world["keys_a"][7][1]]
    by_requester, _ = walk(q, caller, requester_document="12.ABC.345/01DE-35")
    assert by_requester == newest_first(world["keys_b"])
    by_guarantor, _ = walk(q, caller, guarantor_document="529.982.247-25")
    assert by_guarantor == newest_first([e for e in world["keys_a"] if e[2] % 5 == 0])
    window, _ = walk(
        q,
        caller,
        area_code=world["a"],
        created_from=(T0 + timedelta(minutes=3)).isoformat(),
        created_to=(T0 + timedelta(minutes=5)).isoformat(),
    )
    assert window == newest_first([e for e in world["keys_a"] if 3 <= e[2] // 2 < 5])


def test_another_callers_areas_are_never_searched(world):
    caller = Caller("bff", frozenset(), frozenset({world["b"]}))
    keys, _ = walk(world["queries"], caller)
    assert set(keys) == {k for _, k, _ in world["keys_b"]}
    with pytest.raises(AreaNotAllowed):
        world["queries"].search(caller, parse_query({"area_code": [world["a"]]}))


def test_a_tampered_or_foreign_cursor_is_refused(world):
    q = world["queries"]
    mine = Caller("bff", frozenset(), frozenset({world["a"]}))
    page = q.search(mine, parse_query({"limit": ["5"]}))
    body, _, signature = page.next_cursor.partition(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    other_caller = Caller("intruder", frozenset(), frozenset({world["a"]}))
    for caller, query in [
        (mine, {"cursor": [forged]}),
        (mine, {"cursor": ["garbage"]}),
        (mine, {"cursor": [page.next_cursor], "status": ["RECEIVED"]}),  # another filter
        (other_caller, {"cursor": [page.next_cursor]}),
    ]:
        with pytest.raises(OrderValidationError) as raised:
            q.search(caller, parse_query(query))
        assert [e.field for e in raised.value.errors] == ["cursor"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["101"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"status": ["DONE"]}, "status"),
        ({"created_from": ["2026-11-29T10:00:00"]}, "created_from"),
        ({"created_to": ["yesterday"]}, "created_to"),
        ({"requester_document": ["123"]}, "requester_document"),
        ({"page": ["2"]}, "page"),
        ({"limit": ["5", "6"]}, "limit"),
    ],
)
def test_malformed_parameters_are_refused_by_name(params, field):
    with pytest.raises(OrderValidationError) as raised:
        parse_query(params)
    assert [e.field for e in raised.value.errors] == [field]


def test_the_route_answers_a_page_and_422_problems_over_http(world, engine):
    import app as app_module

    c = Container(Settings.from_env(ENV))
    c.order_queries = world["queries"]
    set_container(c)
    try:
        with serving_jwks(), Client(app_module.app) as client:
            auth = bearer(areas=[world["a"]])
            first = client.http.get("/v1/orders?limit=2", headers=auth)
            body = json.loads(first.body)
            second = client.http.get(f"/v1/orders?limit=2&cursor={body['next_cursor']}", headers=auth)
            bad = client.http.get("/v1/orders?limit=500&cursor=x", headers=auth)
    finally:
        set_container(None)
    assert first.status_code == 200 and len(body["items"]) == 2
    assert body["items"][0]["links"]["self"].startswith("/v1/orders/")
    expected = newest_first(world["keys_a"])
    assert [i["order_key"] for i in body["items"] + json.loads(second.body)["items"]] == expected[:4]
    assert bad.status_code == 422
    assert {e["field"] for e in json.loads(bad.body)["errors"]} == {"limit"}


# -- query plans (MariaDB): every search shape is served by an index, none scans the table -------------

PLANS = {
    "area": dict(),
    "area + status": dict(status="NO_QUORUM"),
    "area + status, 2nd page": dict(status="NO_QUORUM", after=True),
    "area, 2nd page": dict(after=True),
    "reference": dict(external_reference="ref-0000000000"),
    "requester": dict(requester_document=CNPJ),
    "guarantor": dict(guarantor_document=CPF),
    "time window": dict(created_from=T0, created_to=T0 + timedelta(days=3)),
}


@pytest.fixture(scope="module")
def planned_engine(request):
    """A database of its own with 10,000 orders over 10 areas: plans on a near-empty table mean nothing."""
    from bench.bench_search import seed_orders
    from tests.conftest import MARIADB_ADMIN_URL, require_service
    from tests.support import scratch_mariadb

    require_service("MariaDB", "127.0.0.1", 3306)
    with scratch_mariadb(MARIADB_ADMIN_URL, "ame_plans") as url:
        upgrade(url)
        engine = create_engine_for(url)
        seed_orders(engine, 10_000, [f"AREA_{i}" for i in range(10)])
        yield engine
        engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("shape", list(PLANS))
def test_search_queries_use_indexes_not_full_scans(shape, planned_engine):
    options = dict(PLANS[shape])
    after = Position(T0 + timedelta(days=200), "01KB00000000000000000000ZZ") if options.pop("after", False) else None
    query = area_query("AREA_3", OrderFilter(areas=("AREA_3",), **options), after, 21)
    compiled = query.compile(planned_engine, compile_kwargs={"literal_binds": True})
    with planned_engine.connect() as conn:
        plan = [dict(r._mapping) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}")]
    assert plan, shape
    tables = [row for row in plan if row["table"] in ("orders", "order_parties")]
    assert tables, (shape, plan)
    for row in tables:  # `<subqueryN>` rows are the materialised result of an index lookup, not a table
        assert row["type"] != "ALL", (shape, plan)
        assert row["key"] is not None, (shape, plan)
    if shape.startswith("area"):
        # The page comes out of the index already ordered: no sort of the area's orders.
        assert "filesort" not in (plan[0]["Extra"] or ""), (shape, plan)
        assert plan[0]["key"] in ("ix_orders_area_created", "ix_orders_area_status_created"), (shape, plan)
