"""The workflow's use cases, run in the order the state machine runs them, over fakes."""

import json
from concurrent.futures import ThreadPoolExecutor

from chalicelib.domain.orders import OrderStatus
from chalicelib.services.intake import IntakeService
from chalicelib.services.workflow import KIND_PF, KIND_PJ_POWERS, EnvelopeWorkflow
from tests.fakes import (
    FakeOperators,
    FakePeople,
    FakePowers,
    FixedClock,
    InMemoryOrderRepository,
    RecordingQueue,
    StaticAreas,
    StaticDomains,
)
from tests.unit.test_intake_service import AREA, DOMAINS
from tests.unit.test_order_request import valid_body

COMPANY = "11222333000181"
ANA, BRUNO, CARLA = "52998224725", "11144477735", "39053344705"
GUARANTOR_PF = "15350946056"


def powers(reps, rules):
    return {"cnpj": COMPANY, "power_code": "ASSINAR_CCB", "representatives": reps, "rules": rules}


def rep(cpf, groups, restrictions=(), valid_until=None):
    return {
        "cpf": cpf,
        "groups": groups,
        "valid_from": "2020-01-01",
        "valid_until": valid_until,
        "restrictions": list(restrictions),
    }


RULE_AB = {
    "rule_id": "R2",
    "description": "A com B",
    "max_amount": None,
    "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
}
PEOPLE = [
    {"cpf": c, "name": n, "email": f"{n.lower()}@example.com", "phone": "+5511999990000"}
    for c, n in ((ANA, "Ana"), (BRUNO, "Bruno"), (CARLA, "Carla"), (GUARANTOR_PF, "Gil"))
]
ACTIVE = [{"cpf": c, "operator_active": True, "account_access": True} for c in (ANA, BRUNO, CARLA)]


class World:
    def __init__(self, company_powers, operators=ACTIVE, people=PEOPLE, repo=None):
        self.repo, self.queue, self.clock = repo or InMemoryOrderRepository(), RecordingQueue(), FixedClock()
        self.powers = FakePowers({COMPANY: company_powers} if company_powers else {})
        self.people = FakePeople(people)
        self.operators = FakeOperators({COMPANY: operators})
        self.executor = ThreadPoolExecutor(2)
        self.intake = IntakeService(
            StaticAreas({"CREDITO_PJ": AREA}), StaticDomains(DOMAINS), self.repo, self.queue, self.clock, self.executor
        )
        self.flow = EnvelopeWorkflow(self.repo, self.powers, self.people, self.operators, self.queue, self.clock)

    def run(self, body=None, execution="exec-1", with_facts=True):
        """What the state machine does, step by step; `with_facts=False` is an execution whose state
        machine passes no party facts to the party's tasks (they read the order)."""
        order_key = self.intake.create(
            "local", body or valid_body(guarantors=[{"person_type": "PF", "document": GUARANTOR_PF}])
        ).order.order_key
        loaded = self.flow.load_order(order_key, execution)
        assert loaded["claimed"]
        for item in loaded["parties"]:
            position, party = item["position"], (item["party"] if with_facts else None)
            if item["kind"] == KIND_PF:
                self.flow.evaluate_person(order_key, position, party)
                continue
            if item["kind"] == KIND_PJ_POWERS:
                fetched = self.flow.fetch_powers(order_key, position, party)
                if fetched["representatives"]:
                    self.flow.fetch_people(order_key, position)
                    self.flow.check_operators(order_key, position, party)
            self.flow.decide_party(order_key, position, party)
        verdict = self.flow.conclude_order(order_key, execution)
        self.flow.publish_result(order_key)
        return order_key, verdict

    def order(self, key):
        return self.repo.get_order(key)

    def events(self):
        return [json.loads(body) for queue, body in self.queue.sent if queue == "result"]


def test_two_people_who_fill_a_and_b_give_quorum_and_one_event():
    world = World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]))
    key, verdict = world.run()
    assert verdict["status"] == "QUORUM_MET"
    order = world.order(key)
    assert order.status is OrderStatus.QUORUM_MET and order.result["quorum_met"] is True
    requester = order.result["parties"][0]
    assert requester["satisfied_rules"] == ["R2"]
    assert requester["signer_sets"] == [{"rule_id": "R2", "cpfs": sorted([ANA, BRUNO])}]
    assert {p["cpf"]: p["name"] for p in requester["participants"]} == {ANA: "Ana", BRUNO: "Bruno"}
    [event] = world.events()
    assert event["event_type"] == "ORDER_QUORUM_MET" and event["order_key"] == key
    assert event["result"] == order.result


def test_company_without_representatives_has_no_quorum_and_skips_people_and_operators():
    world = World(None)
    key, verdict = world.run()
    assert verdict["status"] == "NO_QUORUM"
    assert world.order(key).result["parties"][0]["reason"] == "NO_REPRESENTATIVES"
    assert world.operators.calls == [] and world.people.calls == [[GUARANTOR_PF]]
    assert world.events()[0]["event_type"] == "ORDER_NO_QUORUM"


def test_restricted_representatives_are_kept_with_data_but_not_sent_to_cadastro():
    world = World(
        powers([rep(ANA, ["A"], [{"type": "BLOCKED", "reason": "x"}]), rep(BRUNO, ["B"]), rep(CARLA, ["A"])], [RULE_AB])
    )
    key, _ = world.run()
    party = world.order(key).result["parties"][0]
    ana = next(p for p in party["participants"] if p["cpf"] == ANA)
    assert ana == {
        "cpf": ANA,
        "name": "Ana",
        "groups": ["A"],
        "restricted": True,
        "active": False,
        "reasons": ["BLOCKED"],
    }
    assert world.operators.calls == [(COMPANY, "BANKLINE", sorted([BRUNO, CARLA]))]
    assert sorted(world.people.calls[0]) == sorted([ANA, BRUNO, CARLA])


def test_all_restricted_party_reason():
    world = World(
        powers(
            [
                rep(ANA, ["A"], [{"type": "MAX_AMOUNT", "amount": "1000.00"}]),
                rep(BRUNO, ["B"], valid_until="2021-01-01"),
            ],
            [RULE_AB],
        )
    )
    key, _ = world.run()
    assert world.order(key).result["parties"][0]["reason"] == "ALL_RESTRICTED"


def test_nobody_with_an_active_operator_party_reason():
    world = World(
        powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]),
        operators=[{"cpf": ANA, "operator_active": False, "account_access": True}],
    )
    key, _ = world.run()
    party = world.order(key).result["parties"][0]
    assert party["reason"] == "NO_ACTIVE_OPERATOR"
    reasons = {p["cpf"]: p["reasons"] for p in party["participants"]}
    assert reasons == {ANA: ["NO_OPERATOR"], BRUNO: ["NO_OPERATOR"]}


def test_unknown_pf_guarantor_means_no_quorum_for_the_order():
    world = World(
        powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]), people=[p for p in PEOPLE if p["cpf"] != GUARANTOR_PF]
    )
    key, verdict = world.run()
    assert verdict["status"] == "NO_QUORUM"
    guarantor = world.order(key).result["parties"][1]
    assert guarantor["reason"] == "PERSON_NOT_FOUND" and guarantor["participants"][0]["reasons"] == ["NOT_FOUND"]


def test_a_second_execution_changes_nothing_and_publishes_nothing():
    world = World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]))
    key, _ = world.run()
    history = world.repo.history(key)
    assert world.flow.load_order(key, "exec-2") == {
        "order_key": key,
        "claimed": False,
        "outcome": "TERMINAL",
        "parties": [],
    }
    assert world.flow.conclude_order(key, "exec-2")["status"] == "ALREADY_CONCLUDED"
    assert world.flow.record_failure(key, "exec-2", {"Error": "X"})["status"] == "ALREADY_CONCLUDED"
    world.flow.publish_result(key)
    assert len(world.events()) == 1 and world.repo.history(key) == history


def test_concurrent_execution_finds_the_order_busy():
    world = World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]))
    key = world.intake.create("local", valid_body(guarantors=[])).order.order_key
    assert world.flow.load_order(key, "exec-1")["claimed"]
    assert world.flow.load_order(key, "exec-1")["outcome"] == "RESUMED"  # a retried LoadOrder
    assert world.flow.load_order(key, "exec-2") == {
        "order_key": key,
        "claimed": False,
        "outcome": "BUSY",
        "parties": [],
    }
    assert world.flow.record_failure(key, "exec-2", {"Error": "PartnerUnavailable"})["status"] == "ALREADY_CONCLUDED"
    assert world.order(key).status is OrderStatus.PROCESSING


def test_technical_failure_is_recorded_with_its_cause_and_published():
    world = World(powers([rep(ANA, ["A"])], [RULE_AB]))
    key = world.intake.create("local", valid_body(guarantors=[])).order.order_key
    world.flow.load_order(key, "exec-1")
    cause = json.dumps({"errorMessage": "poderes indisponível", "errorType": "PartnerUnavailable"})
    assert (
        world.flow.record_failure(key, "exec-1", {"Error": "PartnerUnavailable", "Cause": cause})["status"] == "FAILED"
    )
    world.flow.publish_result(key)
    order = world.order(key)
    assert order.status is OrderStatus.FAILED and "poderes indisponível" in order.status_detail
    assert world.events()[-1]["event_type"] == "ORDER_FAILED"


def test_pj_party_without_powers_check_is_met_without_calling_poderes():
    world = World(powers([rep(ANA, ["A"])], [RULE_AB]))
    area = AREA.model_copy(update={"powers_check": False})
    world.intake = IntakeService(
        StaticAreas({"CREDITO_PJ": area}), StaticDomains(DOMAINS), world.repo, world.queue, world.clock, world.executor
    )
    key, verdict = world.run(valid_body(guarantors=[]))
    assert verdict["status"] == "QUORUM_MET" and world.powers.calls == []


class CountingRepository(InMemoryOrderRepository):
    def __init__(self):
        super().__init__()
        self.order_reads = 0

    def get_order(self, order_key):
        self.order_reads += 1
        return super().get_order(order_key)


def test_the_party_facts_travel_with_the_map_item_so_party_tasks_do_not_read_the_order():
    world = World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]), repo=CountingRepository())
    key = world.intake.create(
        "local", valid_body(guarantors=[{"person_type": "PF", "document": GUARANTOR_PF}])
    ).order.order_key
    loaded = world.flow.load_order(key, "exec-1")
    requester, guarantor = (item["party"] for item in loaded["parties"])
    order = world.order(key)
    assert requester == {
        "role": "REQUESTER",
        "person_type": "PJ",
        "document": order.requester.document,
        "power_code": order.requester.power_code,
        "amount": str(order.amount),
        "platform": order.platform,
        "operator_check": True,
    }
    assert isinstance(requester["amount"], str) and guarantor["document"] == GUARANTOR_PF
    assert len(json.dumps(loaded)) < 1024  # facts, never people
    reads = world.repo.order_reads
    world.flow.evaluate_person(key, 1, guarantor)
    world.flow.fetch_powers(key, 0, requester)
    world.flow.fetch_people(key, 0)
    world.flow.check_operators(key, 0, requester)
    world.flow.decide_party(key, 0, requester)
    assert world.repo.order_reads == reads
    assert world.flow.conclude_order(key, "exec-1")["status"] == "QUORUM_MET"


def test_tasks_without_the_party_facts_read_the_order_and_reach_the_same_result():
    with_facts, without = (World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB])) for _ in range(2))
    key_a, verdict_a = with_facts.run()
    key_b, verdict_b = without.run(with_facts=False)
    assert verdict_a["status"] == verdict_b["status"] == "QUORUM_MET"
    assert with_facts.order(key_a).result == without.order(key_b).result
    assert with_facts.repo.party_details(key_a) == without.repo.party_details(key_b)


def test_an_amount_given_as_a_float_is_refused():
    import pytest

    from chalicelib.services.workflow import PartyFacts

    facts = {
        "role": "REQUESTER",
        "person_type": "PJ",
        "document": COMPANY,
        "power_code": "ASSINAR_CCB",
        "amount": "1500.10",
        "platform": "BANKLINE",
        "operator_check": True,
    }
    assert PartyFacts.from_payload(facts).to_payload() == facts
    with pytest.raises(ValueError):
        PartyFacts.from_payload({**facts, "amount": 1500.1})


def test_conclude_reads_every_verdict_at_once_and_refuses_an_order_with_an_undecided_party():
    import pytest

    from chalicelib.services.ports import PartnerRejected

    world = World(powers([rep(ANA, ["A"]), rep(BRUNO, ["B"])], [RULE_AB]))
    key = world.intake.create(
        "local", valid_body(guarantors=[{"person_type": "PF", "document": GUARANTOR_PF}])
    ).order.order_key
    loaded = world.flow.load_order(key, "exec-1")
    world.flow.evaluate_person(key, 1, loaded["parties"][1]["party"])  # the requester is not decided yet
    assert list(world.repo.artifacts_of_kind(key, "verdict")) == [1]
    with pytest.raises(PartnerRejected, match="party 0"):
        world.flow.conclude_order(key, "exec-1")
    assert world.order(key).status is OrderStatus.PROCESSING
