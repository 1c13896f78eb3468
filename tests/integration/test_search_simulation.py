"""POST /v1/quorum/simulations: the engine's full evaluation from partner answers, without creating an order;
only for an area the caller serves, with that area's power code, recorded, and with CPFs masked unless the
token may read personal data."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice.test import Client
from sqlalchemy.exc import OperationalError

from chalicelib.bootstrap import Container, set_container
from chalicelib.services.ports import PartnerUnavailable
from chalicelib.services.simulation import QuorumSimulator
from chalicelib.settings import Settings
from tests.fakes import (
    FakeOperators,
    FakePeople,
    FakePowers,
    FixedClock,
    InMemoryOrderRepository,
    InMemorySimulationJournal,
    StaticAreas,
)
from tests.unit.test_api_routes import ENV
from tests.unit.test_auth_support import bearer, serving_jwks
from tests.unit.test_intake_service import AREA, INACTIVE

CNPJ = "11222333000181"
ANA, BRUNO, CARLA = "52998224725", "11144477735", "39053344705"
POWERS = {
    CNPJ: {
        "cnpj": CNPJ,
        "power_code": "ASSINAR_CCB",
        "representatives": [
            {"cpf": ANA, "groups": ["A"], "restrictions": []},
            {"cpf": BRUNO, "groups": ["B"], "restrictions": []},
            {"cpf": CARLA, "groups": ["A"], "restrictions": [{"type": "MAX_AMOUNT", "amount": "1000.00"}]},
        ],
        "rules": [
            {
                "rule_id": "R1",
                "description": "A e B juntos",
                "max_amount": None,
                "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
            }
        ],
    }
}
PEOPLE = [{"cpf": ANA, "name": "Ana"}, {"cpf": BRUNO, "name": "Bruno"}, {"cpf": CARLA, "name": "Carla"}]
OPERATORS = {
    CNPJ: [
        {"cpf": ANA, "operator_active": True, "account_access": True},
        {"cpf": BRUNO, "operator_active": True, "account_access": False},
    ]
}
SIMULATE = bearer(scopes=["ame:quorum:simulate"])
PERSONAL_DATA = bearer(scopes=["ame:quorum:simulate", "ame:personal-data:read"])
NO_OPERATOR_CHECK = AREA.model_copy(update={"area_code": "SEM_OPERADOR", "operator_check": False})


@pytest.fixture()
def api():
    import app as app_module

    c = Container(Settings.from_env(ENV))
    c.repository = InMemoryOrderRepository()
    c.areas = StaticAreas({"CREDITO_PJ": AREA, "OLD": INACTIVE, "SEM_OPERADOR": NO_OPERATOR_CHECK})
    c.powers, c.people, c.operators = FakePowers(POWERS), FakePeople(PEOPLE), FakeOperators(OPERATORS)
    c.simulation_journal = InMemorySimulationJournal()
    executor = ThreadPoolExecutor(2)
    c.quorum_simulator = QuorumSimulator(
        c.areas, c.powers, c.people, c.operators, c.simulation_journal, FixedClock(), executor
    )
    set_container(c)
    with serving_jwks(), Client(app_module.app) as client:
        yield client, c
    set_container(None)
    executor.shutdown()


def simulate(client, body, headers=SIMULATE):
    return client.http.post(
        "/v1/quorum/simulations", body=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def body(**changes):
    return {
        "area_code": "CREDITO_PJ",
        "company": "11.222.333/0001-81",
        "amount": "5000.00",
        "date": "2026-11-29",
        **changes,
    }


def test_quorum_met_shows_the_signer_set_the_critical_signers_and_the_excluded(api):
    client, c = api
    response = simulate(client, body(), PERSONAL_DATA)
    assert response.status_code == 200
    result = json.loads(response.body)
    assert result["quorum_met"] is True and result["satisfied_rules"] == ["R1"]
    assert result["signer_sets"] == [{"rule_id": "R1", "cpfs": sorted([ANA, BRUNO])}]
    assert result["critical_signers"] == sorted([ANA, BRUNO])
    carla = next(p for p in result["participants"] if p["cpf"] == CARLA)
    assert carla["restricted"] is True and carla["reasons"] == ["MAX_AMOUNT"] and carla["name"] == "Carla"
    assert result["evaluated_on"] == "2026-11-29" and c.repository.orders == {}


def test_treating_a_critical_signer_as_unavailable_shows_the_missing_slot(api):
    client, _ = api
    result = json.loads(simulate(client, body(unavailable=["111.444.777-35"]), PERSONAL_DATA).body)
    assert result["quorum_met"] is False and result["reason"] == "NO_RULE_SATISFIED"
    assert result["unavailable"] == [BRUNO]
    [failed] = result["failed_rules"]
    assert failed["rule_id"] == "R1" and failed["required"] == 2 and failed["fillable"] == 1


def test_with_a_platform_cadastro_unico_excludes_people_without_account_access(api):
    client, c = api
    result = json.loads(simulate(client, body(platform="BANKLINE"), PERSONAL_DATA).body)
    assert result["operator_check"] is True and result["quorum_met"] is False
    bruno = next(p for p in result["participants"] if p["cpf"] == BRUNO)
    assert bruno["active"] is False and bruno["reasons"] == ["NO_ACCOUNT_ACCESS"]
    assert c.operators.calls == [(CNPJ, "BANKLINE", sorted([ANA, BRUNO]))]  # only the unrestricted are asked


def test_a_company_with_nothing_registered_has_no_representatives(api):
    client, _ = api
    result = json.loads(simulate(client, body(company="12.ABC.345/01DE-35")).body)
    assert result["powers_found"] is False and result["reason"] == "NO_REPRESENTATIVES"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"company": "11.222.333/0001-00"}, "company"),
        ({"amount": 10}, "amount"),
        ({"date": "29/11/2026"}, "date"),
        ({"unavailable": ["123"]}, "unavailable"),
        ({"extra": 1}, "extra"),
        ({"role": "SIGNER"}, "role"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(api, changes, field):
    client, _ = api
    response = simulate(client, body(**changes))
    assert response.status_code == 422
    assert json.loads(response.body)["errors"][0]["field"] == field


def test_without_the_simulate_scope_it_is_403(api):
    client, _ = api
    response = simulate(client, body(), headers=bearer(scopes=["ame:orders:read", "ame:orders:write"]))
    assert response.status_code == 403 and json.loads(response.body)["code"] == "INSUFFICIENT_SCOPE"


def test_poderes_down_is_503_with_retry_after(api):
    client, c = api
    c.powers.fail = PartnerUnavailable("poderes", "down")
    response = simulate(client, body())
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"


# -- tenancy: only the caller's areas, with the area's power code ---------------------------------------


@pytest.mark.parametrize("areas", [[], ["CONSIGNADO"]], ids=["token-serving-no-area", "another-area"])
def test_an_area_the_caller_does_not_serve_is_403_before_any_partner_is_asked(api, areas):
    client, c = api
    response = simulate(client, body(), bearer(areas=areas, scopes=["ame:quorum:simulate"]))
    assert response.status_code == 403
    problem = json.loads(response.body)
    assert problem["code"] == "AREA_NOT_ALLOWED" and problem["errors"][0]["field"] == "area_code"
    assert (c.areas.calls, c.powers.calls, c.people.calls, c.simulation_journal.entries) == (0, [], [], [])


def test_without_area_code_it_is_a_422_naming_it(api):
    client, c = api
    request = body()
    del request["area_code"]
    response = simulate(client, request)
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in json.loads(response.body)["errors"]] == [("area_code", "REQUIRED")]
    assert c.powers.calls == []


def test_a_power_code_from_the_client_is_refused_naming_it(api):
    client, c = api
    response = simulate(client, body(power_code="ASSINAR_CCB"))
    assert response.status_code == 422
    [error] = json.loads(response.body)["errors"]
    assert (error["field"], error["code"]) == ("power_code", "POWER_CODE_FROM_AREA")
    assert "role" in error["message"] and c.powers.calls == []


@pytest.mark.parametrize(
    "role, power_code", [(None, "ASSINAR_CCB"), ("REQUESTER", "ASSINAR_CCB"), ("GUARANTOR", "PRESTAR_AVAL")]
)
def test_the_power_code_asked_of_poderes_is_the_areas_for_the_role(api, role, power_code):
    client, c = api
    response = simulate(client, body(**({"role": role} if role else {})))
    assert response.status_code == 200
    assert c.powers.calls == [(CNPJ, power_code)]
    answer = json.loads(response.body)
    assert (answer["area_code"], answer["power_code"]) == ("CREDITO_PJ", power_code)


@pytest.mark.parametrize("area, code", [("NAO_EXISTE", "AREA_NOT_FOUND"), ("OLD", "AREA_INACTIVE")])
def test_an_unknown_or_inactive_area_of_the_caller_is_a_422(api, area, code):
    client, c = api
    response = simulate(client, body(area_code=area), bearer(areas=[area], scopes=["ame:quorum:simulate"]))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in json.loads(response.body)["errors"]] == [("area_code", code)]
    assert c.powers.calls == []


def test_a_platform_the_area_does_not_offer_is_a_422(api):
    client, c = api
    response = simulate(client, body(platform="MOBILE"))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in json.loads(response.body)["errors"]] == [
        ("platform", "PLATFORM_NOT_ALLOWED")
    ]
    assert c.powers.calls == []


def test_cadastro_unico_is_asked_only_when_the_area_checks_operators(api):
    client, c = api
    headers = bearer(areas=["SEM_OPERADOR"], scopes=["ame:quorum:simulate"])
    answer = json.loads(simulate(client, body(area_code="SEM_OPERADOR", platform="BANKLINE"), headers).body)
    assert answer["operator_check"] is False and answer["quorum_met"] is True and c.operators.calls == []


# -- every simulation is recorded ----------------------------------------------------------------------


def test_each_simulation_is_recorded_with_caller_subject_company_area_and_verdict(api):
    client, c = api
    headers = {**bearer(client="produto-ccb", scopes=["ame:quorum:simulate"], sub="svc-ccb"), "X-Request-Id": "req-42"}
    simulate(client, body(unavailable=["111.444.777-35"], platform="BANKLINE"), headers)
    simulate(client, body(role="GUARANTOR"), PERSONAL_DATA)

    first, second = c.simulation_journal.entries
    assert (first.client_id, first.subject, first.area_code, first.company) == (
        "produto-ccb",
        "svc-ccb",
        "CREDITO_PJ",
        CNPJ,
    )
    assert (first.role, first.power_code, str(first.amount), first.evaluated_on.isoformat()) == (
        "REQUESTER",
        "ASSINAR_CCB",
        "5000.00",
        "2026-11-29",
    )
    assert (first.platform, first.operator_check, first.unavailable_count) == ("BANKLINE", True, 1)
    assert (first.quorum_met, first.reason, first.personal_data, first.request_id) == (
        False,
        "NO_RULE_SATISFIED",
        False,
        "req-42",
    )
    assert first.simulated_at == FixedClock().now()
    assert (second.client_id, second.role, second.power_code, second.quorum_met, second.personal_data) == (
        "portal-bff",
        "GUARANTOR",
        "PRESTAR_AVAL",
        True,
        True,
    )


def test_a_simulation_that_cannot_be_recorded_is_not_answered(api):
    client, c = api
    c.simulation_journal.fail = OperationalError("INSERT", {}, Exception("gone away"))
    response = simulate(client, body(), PERSONAL_DATA)
    assert response.status_code == 503 and json.loads(response.body)["code"] == "DATABASE_UNAVAILABLE"
    assert ANA.encode() not in response.body


def test_refused_and_failed_simulations_leave_no_record(api):
    client, c = api
    simulate(client, body(area_code="CONSIGNADO"))
    simulate(client, body(power_code="X"))
    c.powers.fail = PartnerUnavailable("poderes", "down")
    simulate(client, body())
    assert c.simulation_journal.entries == []


# -- CPFs masked as notifications show them, unless the token may read personal data -----------------


def test_without_the_personal_data_scope_no_full_cpf_leaves_but_names_do(api):
    client, _ = api
    response = simulate(client, body(unavailable=["111.444.777-35"], platform="BANKLINE"))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    for cpf in (ANA, BRUNO, CARLA):
        assert cpf.encode() not in response.body
    answer = json.loads(response.body)
    assert answer["cpfs_masked"] is True
    by_ref = {p["ref"]: p for p in answer["participants"]}
    assert {(p["cpf"], p["name"]) for p in by_ref.values()} == {
        ("***.***.***-25", "Ana"),
        ("***.***.***-35", "Bruno"),
        ("***.***.***-05", "Carla"),
    }
    [failed] = answer["failed_rules"]
    [shortfall] = failed["shortfalls"]
    named = [by_ref[r]["name"] for r in shortfall["available"]] + [
        by_ref[w["cpf"]]["name"] for w in shortfall["would_help"]
    ]
    assert set(named) <= {"Ana", "Bruno", "Carla"} and named
    assert [by_ref[r]["name"] for r in answer["unavailable"]] == ["Bruno"]


def test_with_the_personal_data_scope_the_cpfs_are_whole(api):
    client, _ = api
    answer = json.loads(simulate(client, body(), PERSONAL_DATA).body)
    assert answer["cpfs_masked"] is False
    assert sorted(p["cpf"] for p in answer["participants"]) == sorted([ANA, BRUNO, CARLA])
    assert all("ref" not in p for p in answer["participants"])


def test_two_people_whose_masks_coincide_stay_apart_by_their_refs():
    from chalicelib.services.simulation import masked_answer

    one, two = "52998224725", "11144477725"
    answer = {
        "participants": [{"cpf": one, "name": "Um"}, {"cpf": two, "name": "Dois"}],
        "signer_sets": [{"rule_id": "R1", "cpfs": [two]}],
        "eligible_by_requirement": [{"rule_id": "R1", "requirements": [{"group": "A", "cpfs": [one, two]}]}],
        "failed_rules": [],
        "critical_signers": [two],
        "signers_to_notify": [one, two],
        "unavailable": ["39053344705"],
        "lint": [{"code": "DUPLICATE_REPRESENTATIVE", "cpf": one}, {"code": "X", "cpf": None}],
    }
    masked = masked_answer(answer)
    assert [(p["cpf"], p["ref"], p["name"]) for p in masked["participants"]] == [
        ("***.***.***-25", "P1", "Um"),
        ("***.***.***-25", "P2", "Dois"),
    ]
    assert masked["signer_sets"] == [{"rule_id": "R1", "cpfs": ["P2"]}]
    assert masked["eligible_by_requirement"][0]["requirements"][0]["cpfs"] == ["P1", "P2"]
    assert (masked["critical_signers"], masked["signers_to_notify"]) == (["P2"], ["P1", "P2"])
    assert masked["unavailable"] == ["***.***.***-05"]  # nobody's: masked, not a ref
    assert [f["cpf"] for f in masked["lint"]] == ["P1", None]
    assert answer["participants"][0]["cpf"] == one  # the evaluation itself is left as it was
