"""POST /v1/quorum/simulations: the engine's full evaluation from partner answers, without creating an order."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice.test import Client

from chalicelib.bootstrap import Container, set_container
from chalicelib.services.ports import PartnerUnavailable
from chalicelib.services.simulation import QuorumSimulator
from chalicelib.settings import Settings
from tests.fakes import FakeOperators, FakePeople, FakePowers, FixedClock, InMemoryOrderRepository
from tests.unit.test_api_routes import ENV
from tests.unit.test_auth_support import bearer, serving_jwks

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


@pytest.fixture()
def api():
    import app as app_module

    c = Container(Settings.from_env(ENV))
    c.repository = InMemoryOrderRepository()
    c.powers, c.people, c.operators = FakePowers(POWERS), FakePeople(PEOPLE), FakeOperators(OPERATORS)
    executor = ThreadPoolExecutor(2)
    c.quorum_simulator = QuorumSimulator(c.powers, c.people, c.operators, FixedClock(), executor)
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
        "company": "11.222.333/0001-81",
        "power_code": "ASSINAR_CCB",
        "amount": "5000.00",
        "date": "2026-11-29",
        **changes,
    }


def test_quorum_met_shows_the_signer_set_the_critical_signers_and_the_excluded(api):
    client, c = api
    response = simulate(client, body())
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
    result = json.loads(simulate(client, body(unavailable=["111.444.777-35"])).body)
    assert result["quorum_met"] is False and result["reason"] == "NO_RULE_SATISFIED"
    assert result["unavailable"] == [BRUNO]
    [failed] = result["failed_rules"]
    assert failed["rule_id"] == "R1" and failed["required"] == 2 and failed["fillable"] == 1


def test_with_a_platform_cadastro_unico_excludes_people_without_account_access(api):
    client, c = api
    result = json.loads(simulate(client, body(platform="BANKLINE")).body)
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
