"""The order repository's contract suite, run against the in-memory fake (tests/fakes.py), an SQLite file
and the real MariaDB: the fake the unit tests use cannot drift from the adapter production uses."""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.repository import SqlOrderRepository, UnknownParty
from chalicelib.adapters.db.schema import order_parties, order_status_history, orders, outbox
from chalicelib.domain.orders import OrderDraft, OrderParty, OrderRequest, OrderStatus, PartyRole
from chalicelib.services.ports import IdempotencyKeyTaken, OutboxMessage
from migrations.runner import upgrade
from tests.conftest import MARIADB_ADMIN_URL
from tests.fakes import InMemoryOrderRepository
from tests.integration.conftest import clear
from tests.support import scratch_mariadb

BRT = timezone(timedelta(hours=-3))
T0 = datetime(2026, 11, 29, 7, 0, 0, 123456, tzinfo=BRT)  # 10:00:00.123456Z
REQUESTER_CNPJ = "11222333000181"
GUARANTOR_CPF = "52998224725"
GUARANTOR_CNPJ = "12ABC34501DE35"


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_fake_has_the_real_repositorys_methods_with_the_same_signatures():
    real, fake = public_methods(SqlOrderRepository), public_methods(InMemoryOrderRepository)

    assert sorted(fake) == sorted(real)
    assert {name: str(sig) for name, sig in fake.items()} == {name: str(sig) for name, sig in real.items()}


def make_draft(
    order_key: str | None = None,
    *,
    amount: str = "250000.00",
    idempotency_key: str | None = None,
    created_at: datetime = T0,
) -> OrderDraft:
    request = OrderRequest.model_validate(
        {
            "area_code": "CREDITO_PJ",
            "product_code": "CCB_GIRO",
            "platform": "BANKLINE",
            "signature_method": "DIGITAL",
            "amount": amount,
            "requester": {"person_type": "PJ", "document": "11.222.333/0001-81"},
            "guarantors": [
                {"person_type": "PF", "document": "529.982.247-25"},
                {"person_type": "PJ", "document": "12.ABC.345/01DE-35"},
            ],
            "documents": [
                {"document_type": "CCB", "title": "Contrato CCB 123"},
                {"document_type": "ADITIVO", "title": "Aditivo nº 1 — garantia"},
            ],
            "external_reference": "contrato-123",
        }
    )
    power_codes = {PartyRole.REQUESTER: "ASSINAR_CCB", PartyRole.GUARANTOR: "PRESTAR_AVAL"}
    parties = [
        OrderParty(
            position=i,
            role=role,
            person_type=party.person_type,
            document=party.document,
            power_code=power_codes[role] if party.person_type == "PJ" else None,
        )
        for i, (role, party) in enumerate(request.parties())
    ]
    return OrderDraft(
        order_key=order_key or uuid.uuid4().hex,
        created_by="local",
        request=request,
        area_snapshot={"area_code": "CREDITO_PJ", "limits": {"max_amount": Decimal("5000000.00")}},
        parties=parties,
        created_at=created_at,
        idempotency_key=idempotency_key,
        request_hash="ab" * 32 if idempotency_key else None,
    )


def make_outbox(draft: OrderDraft, created_at: datetime | None = None) -> OutboxMessage:
    return OutboxMessage(
        message_id=uuid.uuid4().hex,
        order_key=draft.order_key,
        queue="creation",
        body=json.dumps({"order_key": draft.order_key}),
        created_at=created_at or draft.created_at,
    )


def create(repo: SqlOrderRepository, **kwargs) -> tuple[OrderDraft, OutboxMessage]:
    draft = make_draft(**kwargs)
    message = make_outbox(draft)
    repo.create_order(draft, message)
    return draft, message


# -- creation and reading ---------------------------------------------------------------------------


def test_created_order_reads_back_with_requester_guarantors_and_documents(repo):
    draft, message = create(repo)

    stored = repo.get_order(draft.order_key)

    assert stored is not None
    assert stored.status is OrderStatus.RECEIVED
    assert stored.version == 0
    assert stored.created_by == "local"
    assert (stored.area_code, stored.product_code, stored.platform, stored.signature_method) == (
        "CREDITO_PJ",
        "CCB_GIRO",
        "BANKLINE",
        "DIGITAL",
    )
    assert stored.external_reference == "contrato-123"
    assert stored.requester == OrderParty(
        position=0, role=PartyRole.REQUESTER, person_type="PJ", document=REQUESTER_CNPJ, power_code="ASSINAR_CCB"
    )
    assert [(g.position, g.role, g.document, g.power_code) for g in stored.guarantors] == [
        (1, PartyRole.GUARANTOR, GUARANTOR_CPF, None),
        (2, PartyRole.GUARANTOR, GUARANTOR_CNPJ, "PRESTAR_AVAL"),
    ]
    assert [(d.document_type, d.title) for d in stored.documents] == [
        ("CCB", "Contrato CCB 123"),
        ("ADITIVO", "Aditivo nº 1 — garantia"),
    ]
    assert stored.area_snapshot == {"area_code": "CREDITO_PJ", "limits": {"max_amount": "5000000.00"}}
    assert stored.result is None
    assert [c.status for c in repo.history(draft.order_key)] == [OrderStatus.RECEIVED]
    assert [m.message_id for m in repo.pending_outbox(T0 + timedelta(seconds=1), 10)] == [message.message_id]


def test_amount_round_trips_as_the_exact_decimal(repo):
    draft, _ = create(repo, amount="250000.00")
    large, _ = create(repo, amount="9999999999999.99")
    small, _ = create(repo, amount="0.01")

    amounts = [repo.get_order(d.order_key).amount for d in (draft, large, small)]

    assert amounts == [Decimal("250000.00"), Decimal("9999999999999.99"), Decimal("0.01")]
    assert [str(a) for a in amounts] == ["250000.00", "9999999999999.99", "0.01"]


def test_timestamps_come_back_as_the_same_instant_in_utc(repo):
    draft, _ = create(repo)

    stored = repo.get_order(draft.order_key)

    assert stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.isoformat() == "2026-11-29T10:00:00.123456+00:00"
    assert stored.updated_at == T0
    assert repo.history(draft.order_key)[0].at == T0


def test_naive_timestamps_are_refused_and_nothing_is_stored(repo):
    naive = datetime(2026, 11, 29, 10, 0)
    draft = make_draft(created_at=naive.replace(tzinfo=UTC)).model_copy(update={"created_at": naive})

    with pytest.raises(ValueError, match="timezone-aware"):
        repo.create_order(draft, make_outbox(draft, created_at=T0))

    assert repo.get_order(draft.order_key) is None


def test_unknown_order_reads_as_none(repo):
    assert repo.get_order("does-not-exist") is None
    assert repo.history("does-not-exist") == []


# -- idempotency and atomicity ----------------------------------------------------------------------


def test_idempotency_key_is_found_for_its_caller_only(repo):
    draft, _ = create(repo, idempotency_key="key-1")

    assert repo.find_idempotent("local", "key-1") == (draft.order_key, "ab" * 32)
    assert repo.find_idempotent("another-product", "key-1") is None
    assert repo.find_idempotent("local", "key-2") is None


def test_taken_idempotency_key_rolls_back_the_whole_second_order(repo):
    first, _ = create(repo, idempotency_key="key-1")
    second = make_draft(idempotency_key="key-1")
    second_message = make_outbox(second)

    with pytest.raises(IdempotencyKeyTaken):
        repo.create_order(second, second_message)

    assert repo.get_order(second.order_key) is None
    assert repo.history(second.order_key) == []
    pending = repo.pending_outbox(T0 + timedelta(days=1), 100)
    assert second_message.message_id not in {m.message_id for m in pending}
    assert len(pending) == 1
    assert repo.party_details(second.order_key) == {}
    assert repo.find_idempotent("local", "key-1") == (first.order_key, "ab" * 32)


def test_idempotency_keys_differing_only_in_case_are_different_keys(repo):
    lower, _ = create(repo, idempotency_key="abc")
    upper, _ = create(repo, idempotency_key="ABC")

    assert repo.find_idempotent("local", "abc")[0] == lower.order_key
    assert repo.find_idempotent("local", "ABC")[0] == upper.order_key


# -- status transitions -----------------------------------------------------------------------------


def test_transition_from_expected_status_moves_the_order_and_records_history(repo):
    draft, _ = create(repo)
    later = T0 + timedelta(seconds=2)

    moved = repo.transition(draft.order_key, [OrderStatus.RECEIVED], OrderStatus.PROCESSING, later, detail="iniciado")

    stored = repo.get_order(draft.order_key)
    assert moved is True
    assert (stored.status, stored.status_detail, stored.version, stored.updated_at) == (
        OrderStatus.PROCESSING,
        "iniciado",
        1,
        later,
    )
    assert stored.created_at == T0
    assert stored.result is None
    assert [(c.status, c.detail, c.at) for c in repo.history(draft.order_key)] == [
        (OrderStatus.RECEIVED, None, T0),
        (OrderStatus.PROCESSING, "iniciado", later),
    ]


def test_terminal_transition_stores_the_result(repo):
    draft, _ = create(repo)
    repo.transition(draft.order_key, [OrderStatus.RECEIVED], OrderStatus.PROCESSING, T0)
    result = {"quorum_met": True, "parties": [{"document": REQUESTER_CNPJ, "limit": Decimal("1000000.00")}]}

    moved = repo.transition(draft.order_key, [OrderStatus.PROCESSING], OrderStatus.QUORUM_MET, T0, result=result)

    stored = repo.get_order(draft.order_key)
    assert moved is True
    assert stored.status is OrderStatus.QUORUM_MET
    assert stored.version == 2
    assert stored.result == {"quorum_met": True, "parties": [{"document": REQUESTER_CNPJ, "limit": "1000000.00"}]}


def test_transition_from_a_status_not_expected_is_refused_and_writes_nothing(repo):
    draft, _ = create(repo)

    moved = repo.transition(
        draft.order_key, [OrderStatus.PROCESSING], OrderStatus.QUORUM_MET, T0, result={"quorum_met": True}
    )

    stored = repo.get_order(draft.order_key)
    assert moved is False
    assert (stored.status, stored.version, stored.result) == (OrderStatus.RECEIVED, 0, None)
    assert [c.status for c in repo.history(draft.order_key)] == [OrderStatus.RECEIVED]


def test_transition_of_an_unknown_order_is_refused(repo):
    assert repo.transition("nope", [OrderStatus.RECEIVED], OrderStatus.PROCESSING, T0) is False
    assert repo.history("nope") == []


def test_two_threads_racing_the_same_transition_exactly_one_wins(repo):
    for _ in range(3):
        draft, _ = create(repo)
        barrier = threading.Barrier(2)
        outcomes: list[bool] = []
        errors: list[BaseException] = []

        def race() -> None:
            try:
                barrier.wait(timeout=5)
                outcomes.append(repo.transition(draft.order_key, [OrderStatus.RECEIVED], OrderStatus.PROCESSING, T0))
            except BaseException as exc:  # surfaced below: a thread's failure must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)

        assert errors == []
        assert sorted(outcomes) == [False, True]
        assert repo.get_order(draft.order_key).version == 1
        assert [c.status for c in repo.history(draft.order_key)] == [OrderStatus.RECEIVED, OrderStatus.PROCESSING]


def test_history_keeps_the_order_of_events_even_with_equal_timestamps(repo):
    draft, _ = create(repo)
    at = T0 + timedelta(seconds=1)
    repo.transition(draft.order_key, [OrderStatus.RECEIVED], OrderStatus.PROCESSING, at)
    repo.transition(draft.order_key, [OrderStatus.PROCESSING], OrderStatus.FAILED, at, detail="PODERES_INDISPONIVEL")

    history = repo.history(draft.order_key)

    assert [(c.status, c.detail, c.at) for c in history] == [
        (OrderStatus.RECEIVED, None, T0),
        (OrderStatus.PROCESSING, None, at),
        (OrderStatus.FAILED, "PODERES_INDISPONIVEL", at),
    ]


# -- outbox -----------------------------------------------------------------------------------------


def test_pending_outbox_lists_unpublished_messages_created_before_the_cutoff_oldest_first(repo):
    offsets = [2, 0, 1, 10]  # seconds after T0; the last one is after the cutoff
    messages = {}
    for offset in offsets:
        draft = make_draft()
        message = make_outbox(draft, created_at=T0 + timedelta(seconds=offset))
        repo.create_order(draft, message)
        messages[offset] = message
    cutoff = T0 + timedelta(seconds=5)

    pending = repo.pending_outbox(cutoff, 10)

    assert [m.message_id for m in pending] == [messages[o].message_id for o in (0, 1, 2)]
    assert pending[0].created_at == T0
    assert (pending[0].queue, pending[0].published_at, pending[0].attempts) == ("creation", None, 0)
    assert [m.message_id for m in repo.pending_outbox(cutoff, 2)] == [messages[o].message_id for o in (0, 1)]


def test_published_outbox_messages_are_no_longer_pending(repo):
    for offset in (0, 1, 2):
        draft = make_draft()
        repo.create_order(draft, make_outbox(draft, created_at=T0 + timedelta(seconds=offset)))
    cutoff = T0 + timedelta(seconds=5)
    first_two = [m.message_id for m in repo.pending_outbox(cutoff, 2)]

    repo.mark_outbox_published(first_two, T0 + timedelta(seconds=3))
    repo.mark_outbox_published(first_two, T0 + timedelta(seconds=4))  # a relay retry: harmless
    repo.mark_outbox_published([], T0)

    remaining = repo.pending_outbox(cutoff, 10)
    assert len(remaining) == 1
    assert remaining[0].message_id not in first_two


# -- party evaluation -------------------------------------------------------------------------------

PARTICIPANTS = [
    {
        "cpf": "11144477735",
        "name": "João Lima",
        "email": None,
        "phone": "+5511988887777",
        "groups": ["A", "B"],
        "restricted": False,
        "active": True,
        "reasons": [],
        "joint_only": True,
    },
    {
        "cpf": "52998224725",
        "name": "Maria Souza",
        "email": "maria@example.com",
        "phone": None,
        "groups": ["A"],
        "restricted": True,
        "active": False,
        "reasons": ["MAX_AMOUNT"],
        "joint_only": False,
    },
]
RULES = [
    {
        "rule_id": "R2",
        "description": "Um do grupo A em conjunto com um do grupo B",
        "max_amount": None,
        "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
        "applicable": True,
        "satisfied": False,
    },
    {
        "rule_id": "R1",
        "description": "Um diretor do grupo A sozinho até R$ 1 milhão",
        "max_amount": "1000000.00",
        "requirements": [{"group": "A", "min_signers": 1}],
        "applicable": True,
        "satisfied": False,
    },
]


def _save(repo, order_key, participants=PARTICIPANTS, rules=RULES):
    repo.save_party_evaluation(
        order_key,
        0,
        quorum_met=False,
        reason="NO_RULE_SATISFIED",
        evaluation={"amount": Decimal("250000.00"), "signer_sets": []},
        participants=list(reversed(participants)),
        rules=rules,
    )


def test_party_evaluation_is_stored_with_participants_by_cpf_and_rules_by_id(repo):
    draft, _ = create(repo)

    _save(repo, draft.order_key)

    details = repo.party_details(draft.order_key)
    requester = details[0]
    assert (requester["quorum_met"], requester["reason"]) == (False, "NO_RULE_SATISFIED")
    assert requester["evaluation"] == {"amount": "250000.00", "signer_sets": []}
    assert requester["participants"] == PARTICIPANTS
    assert [r["rule_id"] for r in requester["rules"]] == ["R1", "R2"]
    assert requester["rules"][0]["max_amount"] == "1000000.00"
    assert requester["rules"][1] == RULES[0]
    assert sorted(details) == [0, 1, 2]
    assert details[1]["participants"] == [] and details[1]["quorum_met"] is None


def test_saving_a_party_evaluation_again_leaves_the_same_rows(repo):
    draft, _ = create(repo)
    _save(repo, draft.order_key)
    first = repo.party_details(draft.order_key)

    _save(repo, draft.order_key)

    assert repo.party_details(draft.order_key) == first


def test_saving_a_new_party_evaluation_replaces_the_old_participants_and_rules(repo):
    draft, _ = create(repo)
    _save(repo, draft.order_key)

    _save(repo, draft.order_key, participants=PARTICIPANTS[:1], rules=[])

    requester = repo.party_details(draft.order_key)[0]
    assert [p["cpf"] for p in requester["participants"]] == ["11144477735"]
    assert requester["rules"] == []


def test_evaluation_of_a_party_that_does_not_exist_is_refused_and_writes_nothing(repo):
    draft, _ = create(repo)

    with pytest.raises(UnknownParty):
        repo.save_party_evaluation(
            draft.order_key, 7, quorum_met=True, reason=None, evaluation={}, participants=PARTICIPANTS, rules=RULES
        )

    assert all(d["participants"] == [] for d in repo.party_details(draft.order_key).values())


def test_a_party_evaluation_with_its_verdict_is_one_write_and_a_rerun_leaves_the_same_rows(repo):
    draft, _ = create(repo)
    verdict = {"quorum_met": False, "reason": "NO_RULE_SATISFIED", "amount": Decimal("250000.00")}
    repo.put_artifact(draft.order_key, 0, "powers", {"powers": None}, T1)

    def save():
        repo.save_party_evaluation(
            draft.order_key,
            0,
            quorum_met=False,
            reason="NO_RULE_SATISFIED",
            evaluation={},
            participants=PARTICIPANTS,
            rules=RULES,
            verdict=verdict,
            now=T1,
        )
        return repo.party_details(draft.order_key), repo.get_artifacts(draft.order_key, 0)

    first = save()
    assert save() == first
    assert first[1] == {"powers": {"powers": None}, "verdict": {**verdict, "amount": "250000.00"}}
    with pytest.raises(UnknownParty):
        repo.save_party_evaluation(
            draft.order_key,
            7,
            quorum_met=True,
            reason=None,
            evaluation={},
            participants=[],
            rules=[],
            verdict={},
            now=T1,
        )
    assert repo.artifacts_of_kind(draft.order_key, "verdict") == {0: {**verdict, "amount": "250000.00"}}


# -- indexes (MariaDB's optimizer is what production runs) ------------------------------------------

LOOKUPS = [
    (
        "SELECT * FROM orders WHERE area_code = :area AND status = :status "
        "ORDER BY created_at DESC, order_key DESC LIMIT 20",
        "ix_orders_area_status_created",
    ),
    (
        "SELECT * FROM orders WHERE created_by = :caller ORDER BY created_at DESC LIMIT 20",
        "ix_orders_created_by_created",
    ),
    ("SELECT * FROM orders WHERE external_reference = :reference", "ix_orders_external_reference"),
    ("SELECT * FROM orders WHERE requester_document = :document", "ix_orders_requester_document"),
    (
        "SELECT * FROM orders WHERE status = 'PROCESSING' AND updated_at < :before ORDER BY updated_at LIMIT 100",
        "ix_orders_status_updated",
    ),
    ("SELECT * FROM order_parties WHERE document = :document", "ix_order_parties_document"),
    (
        "SELECT * FROM outbox WHERE published_at IS NULL AND created_at < :before ORDER BY created_at LIMIT 100",
        "ix_outbox_published_created",
    ),
    ("SELECT * FROM order_status_history WHERE order_key = :key ORDER BY id", "ix_order_status_history_order_key_id"),
]


@pytest.fixture(scope="module")
def seeded_mariadb(mariadb_url):
    # Its own database, so the per-test cleaning of the suite above never empties it.
    with scratch_mariadb(MARIADB_ADMIN_URL, "ame_plans") as url:
        engine = _seed_plans_database(url)
        yield engine
        engine.dispose()


def _seed_plans_database(url: str):
    """2,000 orders with parties, history and outbox rows, analysed (plans on empty tables mean nothing)."""
    upgrade(url)
    engine = create_engine_for(url)
    base = T0.astimezone(UTC).replace(tzinfo=None)
    statuses = ["QUORUM_MET"] * 6 + ["NO_QUORUM"] * 2 + ["FAILED", "PROCESSING"]
    rows = []
    for i in range(2000):
        rows.append(
            {
                "order_key": f"k{i:05d}",
                "status": statuses[i % len(statuses)],
                "version": 2,
                "created_by": f"product-{i % 7}",
                "updated_by": "ame",
                "area_code": f"AREA_{i % 13}",
                "product_code": "CCB_GIRO",
                "platform": "BANKLINE",
                "signature_method": "DIGITAL",
                "amount": Decimal("1000.00") + i,
                "external_reference": f"ref-{i}",
                "requester_person_type": "PJ",
                "requester_document": f"{i:014d}",
                "area_snapshot": "{}",
                "request_body": "{}",
                "created_at": base + timedelta(seconds=i),
                "updated_at": base + timedelta(seconds=i + 1),
            }
        )
    with engine.begin() as conn:
        conn.execute(orders.insert(), rows)
        conn.execute(
            order_parties.insert(),
            [
                {
                    "order_key": r["order_key"],
                    "position": 0,
                    "role": "REQUESTER",
                    "person_type": "PJ",
                    "document": r["requester_document"],
                }
                for r in rows
            ],
        )
        conn.execute(
            order_status_history.insert(),
            [
                {"order_key": r["order_key"], "status": s, "created_at": r["created_at"]}
                for r in rows
                for s in ("RECEIVED", "PROCESSING")
            ],
        )
        conn.execute(
            outbox.insert(),
            [
                {
                    "message_id": f"m{i:05d}",
                    "order_key": r["order_key"],
                    "queue": "creation",
                    "body": "{}",
                    "created_at": r["created_at"],
                    "published_at": None if i % 50 == 0 else r["created_at"],
                    "attempts": 1,
                }
                for i, r in enumerate(rows)
            ],
        )
        for table in ("orders", "order_parties", "order_status_history", "outbox"):
            conn.exec_driver_sql(f"ANALYZE TABLE {table}")
    return engine


@pytest.mark.mariadb
@pytest.mark.parametrize(("query", "index"), LOOKUPS, ids=[index for _, index in LOOKUPS])
def test_lookup_uses_its_index_on_mariadb(seeded_mariadb, query, index):
    params = {
        "area": "AREA_3",
        "status": "QUORUM_MET",
        "caller": "product-2",
        "reference": "ref-77",
        "document": f"{77:014d}",
        "before": T0.astimezone(UTC).replace(tzinfo=None) + timedelta(seconds=1500),
        "key": "k00077",
    }
    with seeded_mariadb.connect() as conn:
        plan = conn.execute(sa.text("EXPLAIN " + query), params).mappings().all()

    assert len(plan) == 1
    assert plan[0]["type"] != "ALL", plan
    assert plan[0]["key"] == index, plan
    assert "filesort" not in (plan[0]["Extra"] or ""), plan


# -- workflow: claim, artifacts, conclusion -----------------------------------------------------------

from chalicelib.services.ports import ClaimOutcome  # noqa: E402

T1 = T0 + timedelta(seconds=5)


def _event(draft: OrderDraft) -> OutboxMessage:
    return OutboxMessage(
        message_id=uuid.uuid4().hex,
        order_key=draft.order_key,
        queue="result",
        body=json.dumps({"event_id": "evt"}),
        created_at=T1,
    )


def test_claim_is_owned_by_one_execution_and_resumable_by_it(repo):
    draft, _ = create(repo)
    assert repo.claim(draft.order_key, "exec-1", T1) is ClaimOutcome.CLAIMED
    assert repo.claim(draft.order_key, "exec-1", T1) is ClaimOutcome.RESUMED
    assert repo.claim(draft.order_key, "exec-2", T1) is ClaimOutcome.BUSY
    assert repo.claim("no-such-order", "exec-1", T1) is ClaimOutcome.MISSING
    assert repo.get_order(draft.order_key).status is OrderStatus.PROCESSING


def test_a_claim_marks_the_creation_message_delivered_in_its_own_transaction(repo):
    draft, creation = create(repo)
    other, _ = create(repo)
    assert [m.message_id for m in repo.pending_outbox_for(draft.order_key)] == [creation.message_id]

    assert repo.claim(draft.order_key, "exec-1", T1) is ClaimOutcome.CLAIMED

    assert repo.pending_outbox_for(draft.order_key) == []
    assert [m.queue for m in repo.pending_outbox_for(other.order_key)] == ["creation"]  # only its own order's
    assert repo.claim(draft.order_key, "exec-2", T1) is ClaimOutcome.BUSY  # a refused claim writes nothing
    assert repo.pending_outbox_for(draft.order_key) == []


def test_marking_the_creation_message_delivered_leaves_the_orders_other_messages_pending(repo):
    draft, creation = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    event = _event(draft)
    assert repo.conclude(draft.order_key, "exec-1", OrderStatus.QUORUM_MET, T1, None, {"quorum_met": True}, event)
    other, _ = create(repo)

    repo.mark_creation_delivered(draft.order_key, T1)

    assert [m.message_id for m in repo.pending_outbox_for(draft.order_key)] == [event.message_id]
    assert [m.queue for m in repo.pending_outbox_for(other.order_key)] == ["creation"]
    repo.mark_creation_delivered(draft.order_key, T1)  # a repeat changes nothing
    assert [m.message_id for m in repo.pending_outbox_for(draft.order_key)] == [event.message_id]


def test_only_the_owner_concludes_and_the_event_is_written_with_it(repo):
    draft, creation = create(repo)
    repo.mark_outbox_published([creation.message_id], T1)
    repo.claim(draft.order_key, "exec-1", T1)
    assert not repo.conclude(draft.order_key, "exec-2", OrderStatus.FAILED, T1, "x", {"q": 1}, _event(draft))
    assert repo.pending_outbox_for(draft.order_key) == []
    event = _event(draft)
    assert repo.conclude(
        draft.order_key,
        "exec-1",
        OrderStatus.QUORUM_MET,
        T1,
        None,
        {"quorum_met": True, "amount": Decimal("1.50")},
        event,
    )
    order = repo.get_order(draft.order_key)
    assert order.status is OrderStatus.QUORUM_MET and order.result == {"quorum_met": True, "amount": "1.50"}
    assert [m.message_id for m in repo.pending_outbox_for(draft.order_key)] == [event.message_id]
    assert not repo.conclude(draft.order_key, "exec-1", OrderStatus.NO_QUORUM, T1, None, {}, _event(draft))
    assert [h.status for h in repo.history(draft.order_key)] == [
        OrderStatus.RECEIVED,
        OrderStatus.PROCESSING,
        OrderStatus.QUORUM_MET,
    ]


def test_racing_executions_conclude_exactly_once(repo):
    draft, _ = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    wins = []
    barrier = threading.Barrier(4)

    def attempt(_):
        barrier.wait()
        wins.append(repo.conclude(draft.order_key, "exec-1", OrderStatus.NO_QUORUM, T1, None, {}, _event(draft)))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    # one event; the creation message was marked delivered by the claim
    assert [m.queue for m in repo.pending_outbox_for(draft.order_key)] == ["result"]


def test_artifacts_are_replaced_not_duplicated(repo):
    draft, _ = create(repo)
    repo.put_artifact(draft.order_key, 0, "people", [{"cpf": "1"}], T1)
    repo.put_artifact(draft.order_key, 0, "people", [{"cpf": "2"}], T1)
    repo.put_artifact(draft.order_key, 0, "powers", {"amount": Decimal("10.00")}, T1)
    repo.put_artifact(draft.order_key, 1, "people", [], T1)
    assert repo.get_artifacts(draft.order_key, 0) == {"people": [{"cpf": "2"}], "powers": {"amount": "10.00"}}
    assert repo.get_artifacts(draft.order_key, 1) == {"people": []}
    assert repo.artifacts_of_kind(draft.order_key, "people") == {0: [{"cpf": "2"}], 1: []}
    assert repo.artifacts_of_kind(draft.order_key, "verdict") == {}


def test_claim_records_the_owner_and_a_history_row_and_a_terminal_order_is_not_claimed(repo):
    draft, _ = create(repo)

    assert repo.claim(draft.order_key, "exec-1", T1) is ClaimOutcome.CLAIMED

    order = repo.get_order(draft.order_key)
    assert (order.status, order.processing_by, order.status_detail, order.version, order.updated_at) == (
        OrderStatus.PROCESSING,
        "exec-1",
        "em processamento",
        1,
        T1,
    )
    assert [(h.status, h.detail, h.at) for h in repo.history(draft.order_key)][-1] == (
        OrderStatus.PROCESSING,
        "em processamento",
        T1,
    )
    assert repo.conclude(draft.order_key, "exec-1", OrderStatus.NO_QUORUM, T1, None, None, _event(draft))
    assert repo.claim(draft.order_key, "exec-2", T1) is ClaimOutcome.TERMINAL


# -- try again later and the sweeper ----------------------------------------------------------------

T2 = T1 + timedelta(seconds=60)


def _parked(repo, next_at=T2):
    draft, _ = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    assert repo.park(draft.order_key, "exec-1", T1, "aguardando parceiro", next_at)
    return draft.order_key


def test_park_lets_go_of_the_order_and_records_when_to_try_again(repo):
    key = _parked(repo)

    order = repo.get_order(key)
    assert order.parked
    assert (order.status, order.processing_by, order.status_detail) == (
        OrderStatus.PROCESSING,
        None,
        "aguardando parceiro",
    )
    assert (order.redrive_count, order.first_failure_at, order.next_attempt_at, order.version) == (1, T1, T2, 2)
    assert [(h.status, h.detail) for h in repo.history(key)][-1] == (OrderStatus.PROCESSING, "aguardando parceiro")


def test_only_the_owner_parks_and_the_first_failure_is_kept(repo):
    key = _parked(repo)
    assert not repo.park(key, "exec-1", T2, "de novo", T2)  # no longer the owner
    assert repo.claim(key, "exec-2", T2) is ClaimOutcome.CLAIMED  # a parked order is claimed again
    assert repo.get_order(key).next_attempt_at is None

    assert repo.park(key, "exec-2", T2, "x" * 600, T2 + timedelta(seconds=120))

    order = repo.get_order(key)
    assert (order.redrive_count, order.first_failure_at, len(order.status_detail)) == (2, T1, 500)
    assert not repo.park("no-such-order", "exec-2", T2, "x", T2)


def test_due_for_redrive_lists_parked_orders_whose_time_has_come_oldest_first(repo):
    later = _parked(repo, next_at=T2 + timedelta(seconds=30))
    sooner = _parked(repo, next_at=T2)
    not_yet = _parked(repo, next_at=T2 + timedelta(hours=1))
    owned, _ = create(repo)
    repo.claim(owned.order_key, "exec-9", T1)

    due = repo.due_for_redrive(T2 + timedelta(seconds=30), 10)

    assert due == [(sooner, 1), (later, 1)]
    assert repo.due_for_redrive(T2 + timedelta(seconds=30), 1) == [(sooner, 1)]
    assert not_yet not in dict(repo.due_for_redrive(T2, 10))


def test_postpone_moves_the_next_attempt_of_a_parked_order_only(repo):
    key = _parked(repo)
    owned, _ = create(repo)
    repo.claim(owned.order_key, "exec-9", T1)

    repo.postpone(key, T2 + timedelta(minutes=5))
    repo.postpone(owned.order_key, T2 + timedelta(minutes=5))

    assert repo.get_order(key).next_attempt_at == T2 + timedelta(minutes=5)
    assert repo.get_order(owned.order_key).next_attempt_at is None
    assert repo.get_order(key).version == 2  # no status change, no history row
    assert len(repo.history(key)) == 3


def test_bump_redrive_counts_a_new_attempt_of_a_parked_order_only(repo):
    key = _parked(repo)
    owned, _ = create(repo)
    repo.claim(owned.order_key, "exec-9", T1)

    assert repo.bump_redrive(key, T2, T2 + timedelta(seconds=120)) == 2
    assert repo.bump_redrive(owned.order_key, T2, T2) is None
    assert repo.bump_redrive("no-such-order", T2, T2) is None

    order = repo.get_order(key)
    assert (order.redrive_count, order.next_attempt_at, order.updated_at, order.version) == (
        2,
        T2 + timedelta(seconds=120),
        T2,
        2,
    )
    assert len(repo.history(key)) == 3


def test_stale_orders_are_those_in_the_status_untouched_since_the_cutoff_oldest_first(repo):
    first, _ = create(repo, created_at=T0)
    second, _ = create(repo, created_at=T0 + timedelta(seconds=10))
    fresh, _ = create(repo, created_at=T2)
    busy, _ = create(repo, created_at=T0)
    repo.claim(busy.order_key, "exec-1", T1)

    cutoff = T0 + timedelta(seconds=20)
    received = repo.stale_orders(OrderStatus.RECEIVED, cutoff, 10)
    processing = repo.stale_orders(OrderStatus.PROCESSING, T2, 10)

    assert received == [(first.order_key, None), (second.order_key, None)]
    assert repo.stale_orders(OrderStatus.RECEIVED, cutoff, 1) == [(first.order_key, None)]
    assert repo.stale_orders(OrderStatus.RECEIVED, T0 + timedelta(seconds=5), 10) == [(first.order_key, None)]
    assert processing == [(busy.order_key, "exec-1")]
    assert fresh.order_key not in dict(repo.stale_orders(OrderStatus.RECEIVED, T2, 10))


def test_release_takes_back_an_order_from_a_dead_execution_or_a_lost_message(repo):
    dead, _ = create(repo)
    repo.claim(dead.order_key, "exec-1", T1)
    lost, _ = create(repo)

    assert not repo.release(dead.order_key, "exec-other", T2, "x")
    assert repo.release(dead.order_key, "exec-1", T2, "execução interrompida; nova tentativa")
    assert repo.release(lost.order_key, None, T2, "mensagem de criação perdida; nova tentativa")
    assert not repo.release(lost.order_key, None, T2, "again")  # no longer RECEIVED

    for key, detail in (
        (dead.order_key, "execução interrompida; nova tentativa"),
        (lost.order_key, "mensagem de criação perdida; nova tentativa"),
    ):
        order = repo.get_order(key)
        assert order.parked and (order.redrive_count, order.next_attempt_at, order.status_detail) == (1, T2, detail)
        assert [(h.status, h.detail, h.at) for h in repo.history(key)][-1] == (OrderStatus.PROCESSING, detail, T2)
    assert sorted(k for k, _ in repo.due_for_redrive(T2, 10)) == sorted([dead.order_key, lost.order_key])


def test_conclude_clears_the_next_attempt_and_trims_the_detail(repo):
    key = _parked(repo)
    repo.claim(key, "exec-2", T2)

    assert repo.conclude(key, "exec-2", OrderStatus.FAILED, T2, "y" * 700, None, _event(repo.get_order(key)))

    order = repo.get_order(key)
    assert (order.status, order.next_attempt_at, len(order.status_detail), order.result) == (
        OrderStatus.FAILED,
        None,
        500,
        None,
    )


# -- resume on recovery: orders parked on a partner --------------------------------------------------


def _parked_on(repo, partner, next_at=T2):
    draft, _ = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    assert repo.park(draft.order_key, "exec-1", T1, "aguardando parceiro", next_at, partner)
    return draft.order_key


def test_park_records_the_partner_and_claim_or_release_forget_it(repo):
    waiting = _parked_on(repo, "poderes")
    claimed = _parked_on(repo, "poderes")
    released = _parked_on(repo, "pessoas")
    unnamed = _parked(repo)

    assert repo.get_order(waiting).parked_on == "poderes"
    assert repo.get_order(unnamed).parked_on is None
    assert repo.claim(claimed, "exec-2", T2) is ClaimOutcome.CLAIMED
    assert repo.get_order(claimed).parked_on is None
    repo.claim(released, "exec-3", T2)
    assert repo.release(released, "exec-3", T2, "execução interrompida; nova tentativa")
    assert repo.get_order(released).parked_on is None


def test_parked_on_lists_one_partners_parked_orders_soonest_due_first(repo):
    later = _parked_on(repo, "poderes", next_at=T2 + timedelta(seconds=30))
    sooner = _parked_on(repo, "poderes", next_at=T2)
    other = _parked_on(repo, "cadastro")
    taken = _parked_on(repo, "poderes")
    repo.claim(taken, "exec-9", T2)

    assert repo.parked_on("poderes", 10) == [sooner, later]
    assert repo.parked_on("poderes", 1) == [sooner]
    assert repo.parked_on("cadastro", 10) == [other]
    assert repo.parked_on("pessoas", 10) == []
    assert repo.parked_partners() == ["cadastro", "poderes"]


def test_resume_parked_is_a_compare_and_set_on_the_partner(repo):
    key = _parked_on(repo, "poderes")
    elsewhere = _parked_on(repo, "pessoas")

    assert repo.resume_parked(key, "poderes", T2, T2 + timedelta(seconds=120)) == 2
    assert repo.resume_parked(key, "poderes", T2, T2) is None  # a second trigger finds it resumed
    assert repo.resume_parked(elsewhere, "poderes", T2, T2) is None
    assert repo.resume_parked("no-such-order", "poderes", T2, T2) is None

    order = repo.get_order(key)
    assert order.parked and (order.parked_on, order.redrive_count, order.next_attempt_at, order.updated_at) == (
        None,
        2,
        T2 + timedelta(seconds=120),
        T2,
    )
    assert order.version == 2 and len(repo.history(key)) == 3  # no status change, no history row
    assert repo.parked_on("poderes", 10) == [] and repo.parked_partners() == ["pessoas"]
    assert key in dict(repo.due_for_redrive(T2 + timedelta(seconds=120), 10))  # the sweeper's fallback


def test_two_resumes_at_once_launch_one_attempt(repo):
    keys = [_parked_on(repo, "poderes") for _ in range(5)]
    won: list[tuple[str, int | None]] = []
    barrier = threading.Barrier(2)

    def resume_all():
        barrier.wait()
        for key in keys:
            won.append((key, repo.resume_parked(key, "poderes", T2, T2 + timedelta(seconds=120))))

    threads = [threading.Thread(target=resume_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    winners = [key for key, attempt in won if attempt is not None]
    assert sorted(winners) == sorted(keys)
    assert {repo.get_order(k).redrive_count for k in keys} == {2}


# -- telling waiting readers ------------------------------------------------------------------------


def announcing_repo(backend) -> tuple[SqlOrderRepository | InMemoryOrderRepository, list[str]]:
    announced: list[str] = []
    if backend is None:
        return InMemoryOrderRepository(on_status_change=announced.append), announced
    clear(backend)
    return SqlOrderRepository(backend, on_status_change=announced.append), announced


def test_every_committed_status_change_is_announced_and_a_refused_one_is_not(backend):
    repo, announced = announcing_repo(backend)
    draft, _ = create(repo)
    assert announced == []  # a new order: nobody can be waiting on it yet
    repo.claim(draft.order_key, "exec-1", T1)
    assert announced == [draft.order_key]
    assert not repo.conclude(draft.order_key, "exec-2", OrderStatus.FAILED, T1, "x", {}, _event(draft))
    assert not repo.transition(draft.order_key, [OrderStatus.RECEIVED], OrderStatus.FAILED, T1)
    assert announced == [draft.order_key]  # compare-and-set refused: nothing changed, nothing said
    assert repo.conclude(draft.order_key, "exec-1", OrderStatus.QUORUM_MET, T1, None, {}, _event(draft))
    assert announced == [draft.order_key, draft.order_key]


def test_a_status_change_rolled_back_is_never_announced(engine):
    clear(engine)
    seen: list[tuple[str, OrderStatus | None]] = []
    repo = SqlOrderRepository(engine)
    repo._on_status_change = lambda key: seen.append((key, repo.get_order(key).status))
    draft, creation = create(repo)
    repo.claim(draft.order_key, "exec-1", T1)
    assert seen == [(draft.order_key, OrderStatus.PROCESSING)]  # announced after the commit: readable
    clash = creation.model_copy(update={"queue": "result"})  # the creation message's id again: refused
    with pytest.raises(sa.exc.IntegrityError):
        repo.conclude(draft.order_key, "exec-1", OrderStatus.QUORUM_MET, T1, None, {}, clash)
    assert repo.get_order(draft.order_key).status is OrderStatus.PROCESSING
    assert seen == [(draft.order_key, OrderStatus.PROCESSING)]


def test_a_tasks_partner_calls_are_counted_in_its_own_write_and_kept_when_that_write_fails(engine):
    """A workflow task's tally rides along with its artifact or evaluation write; what a failed write could
    not commit stays for the middleware's flush, so every call is counted once either way."""
    import contextvars

    from chalicelib import observability as obs
    from chalicelib.adapters.db.schema import order_partner_calls as pc

    clear(engine)
    repo = SqlOrderRepository(engine)
    draft, _ = create(repo)
    key = draft.order_key
    flushed: list = []

    def counters():
        with engine.connect() as conn:
            query = sa.select(pc).where(pc.c.order_key == key)
            return {r.partner: (r.calls, r.errors, r.latency_ms) for r in conn.execute(query)}

    def task():
        obs.bind_order(key)
        obs._tally_partner_call("poderes", 100.4, False)
        repo.put_artifact(key, 0, "powers", {}, T1)
        assert counters() == {"poderes": (1, 0, 100)}
        obs._tally_partner_call("pessoas", 50, True)
        with pytest.raises(UnknownParty):  # nothing committed: the tally waits for the flush
            repo.save_party_evaluation(key, 7, quorum_met=True, reason=None, evaluation={}, participants=[], rules=[])
        assert counters() == {"poderes": (1, 0, 100)}
        obs._tally_partner_call("pessoas", 30, False)
        repo.save_party_evaluation(
            key, 0, quorum_met=True, reason=None, evaluation={}, participants=[], rules=[], verdict={}, now=T1
        )
        assert counters() == {"poderes": (1, 0, 100), "pessoas": (2, 1, 80)}
        other, _ = create(repo, order_key="01JDQ7Z8K3M4N5P6Q7R8S9T0ZZ")
        obs._tally_partner_call("cadastro", 10, False)
        repo.put_artifact(other.order_key, 0, "operators", {}, T1)  # another order's write takes none of it
        assert obs.flush_partner_calls(lambda order_key, tally: flushed.append((order_key, tally))) is True

    contextvars.copy_context().run(task)
    assert flushed == [(key, {"cadastro": (1, 0, 10)})]


# -- reads without a snapshot -----------------------------------------------------------------------


def test_on_sqlite_a_single_read_runs_without_begin_and_other_reads_keep_their_snapshot(tmp_path):
    from chalicelib.adapters.db.engine import SINGLE_READ_OPTION

    engine = create_engine_for(f"sqlite:///{tmp_path / 'reads.sqlite3'}")
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2].split()[0].upper()))
    try:
        with engine.execution_options(**{SINGLE_READ_OPTION: True}).connect() as conn:
            conn.execute(sa.text("SELECT 1")).all()
        assert "BEGIN" not in sent and sent == ["SELECT"]
        sent.clear()
        with engine.connect() as conn:  # any other read: one snapshot for all its statements
            conn.execute(sa.text("SELECT 1")).all()
        assert sent[:2] == ["BEGIN", "SELECT"]
    finally:
        engine.dispose()


def test_an_order_whose_parties_are_gone_reads_as_missing_not_as_an_error(engine):
    clear(engine)
    repo = SqlOrderRepository(engine)
    draft, _ = create(repo)
    with engine.begin() as conn:  # what the purge leaves if it runs between get_order's statements
        conn.execute(order_parties.delete().where(order_parties.c.order_key == draft.order_key))
    assert repo.get_order(draft.order_key) is None


def test_the_stamp_is_the_orders_status_version_and_updated_at_and_moves_with_a_status_change(repo):
    draft, _ = create(repo)
    first = repo.order_stamp(draft.order_key)
    assert (first.status, first.version, first.area_code) == (OrderStatus.RECEIVED, 0, "CREDITO_PJ")
    assert first.updated_at == repo.get_order(draft.order_key).updated_at
    repo.claim(draft.order_key, "exec-1", T1)
    claimed = repo.order_stamp(draft.order_key)
    assert claimed.status is OrderStatus.PROCESSING and claimed.version == 1
    assert repo.order_stamp("01NOSUCHORDER0000000000000") is None
