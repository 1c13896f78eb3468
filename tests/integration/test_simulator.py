"""The partner simulator on loopback, driven through AME's real partner clients and its admin API."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

from ame_local.simulator import PARTNERS, start_simulator
from ame_local.simulator import scenarios as sc
from chalicelib.adapters.partners import (
    CadastroClient,
    DominiosClient,
    NotificacaoClient,
    ParametrizadorClient,
    PartnerRejected,
    PartnerUnavailable,
    PessoasClient,
    PoderesClient,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def running():
    simulator = start_simulator(port=0, fault_seed=42)
    yield simulator
    simulator.stop()


@pytest.fixture()
def sim(running):
    running.reset()
    yield running
    running.reset()


def clients(url: str, timeout: float = 2.0) -> dict:
    return {
        "parametrizador": ParametrizadorClient(url, timeout),
        "dominios": DominiosClient(url, timeout),
        "poderes": PoderesClient(url, timeout),
        "pessoas": PessoasClient(url, timeout),
        "cadastro": CadastroClient(url, timeout),
        "notificacao": NotificacaoClient(url, timeout),
    }


# --- every partner, through the real clients --------------------------------------------------


def test_parametrizador_serves_the_seeded_areas(sim):
    client = ParametrizadorClient(sim.url, 2)
    credito = client.get_area(sc.AREA_CREDITO_PJ)
    assert credito.active and credito.powers_check and credito.operator_check
    assert credito.platforms == ["BANKLINE"] and credito.signature_methods == ["DIGITAL"]
    assert (credito.power_codes.requester, credito.power_codes.guarantor) == ("ASSINAR_CCB", "PRESTAR_AVAL")
    assert credito.limits.max_amount == Decimal(sc.AREA_MAX_AMOUNT)
    assert (credito.limits.max_guarantors, credito.limits.max_documents) == (3, 10)
    assert credito.webhook.url == "http://127.0.0.1:9100/hooks/credito-pj"
    assert credito.webhook.secret_ref == "ame/webhooks/CREDITO_PJ"
    without_webhook = client.get_area(sc.AREA_WITHOUT_WEBHOOK)
    assert without_webhook.active and without_webhook.webhook is None
    assert client.get_area(sc.AREA_INACTIVE).active is False
    assert client.get_area(sc.AREA_UNKNOWN) is None


def test_dominios_serves_active_and_inactive_keys(sim):
    client = DominiosClient(sim.url, 2)
    products = client.get_domain("products")
    document_types = client.get_domain("document_types")
    assert products.find(sc.PRODUCT_ACTIVE).active is True
    assert products.find(sc.PRODUCT_INACTIVE).active is False
    assert document_types.find(sc.DOCUMENT_TYPE_ACTIVE).active is True
    assert document_types.find(sc.DOCUMENT_TYPE_INACTIVE).active is False
    assert client.get_domain("no_such_domain") is None


def test_poderes_answers_404_only_for_the_company_without_representatives(sim):
    client = PoderesClient(sim.url, 2)
    assert client.get_powers(sc.document_of("NO_REPRESENTATIVES"), "ASSINAR_CCB") is None
    powers = client.get_powers(sc.document_of("ALPHANUMERIC"), "ASSINAR_CCB")
    assert powers.cnpj == "12ABC34501DE35" and powers.representatives
    assert client.get_powers(sc.document_of("GUARANTOR_PJ"), "PRESTAR_AVAL").rules


def test_pessoas_knows_known_people_and_omits_the_unknown(sim):
    people = PessoasClient(sim.url, 2).search([sc.PF_KNOWN_CPF, sc.PF_EMAIL_ONLY_CPF, sc.PF_UNKNOWN_CPF])
    by_cpf = {p.cpf: p for p in people}
    assert set(by_cpf) == {sc.PF_KNOWN_CPF, sc.PF_EMAIL_ONLY_CPF}
    assert by_cpf[sc.PF_KNOWN_CPF].email and by_cpf[sc.PF_KNOWN_CPF].phone
    assert by_cpf[sc.PF_EMAIL_ONLY_CPF].email and by_cpf[sc.PF_EMAIL_ONLY_CPF].phone is None


def test_pessoas_batches_250_cpfs_into_three_calls(sim):
    cpfs = [sc.PF_KNOWN_CPF] + [f"{n:011d}" for n in range(1, 250)]
    people = PessoasClient(sim.url, 2).search(cpfs)
    assert [p.cpf for p in people] == [sc.PF_KNOWN_CPF]
    assert sim.counters()["pessoas"] == 3


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/people/search", {"cpfs": [f"{n:011d}" for n in range(101)]}),
        (
            "/v1/companies/11222333000181/operators/search",
            {"platform": "BANKLINE", "cpfs": [f"{n:011d}" for n in range(101)]},
        ),
    ],
)
def test_more_than_100_cpfs_is_a_bad_request(sim, path, body):
    response = requests.post(sim.url + path, json=body, timeout=2)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


def test_cadastro_tells_inactive_operator_and_missing_access_apart(sim):
    cnpj = sc.document_of("NO_ACTIVE_OPERATOR")
    powers = PoderesClient(sim.url, 2).get_powers(cnpj, "ASSINAR_CCB")
    cpfs = [r.cpf for r in powers.representatives]
    operators = CadastroClient(sim.url, 2).search(cnpj, sc.PLATFORM, cpfs)
    assert len(operators) == len(cpfs) - 1  # one representative has no operator at all
    assert not any(o.operator_active and o.account_access for o in operators)
    assert {(o.operator_active, o.account_access) for o in operators} == {(False, True), (True, False)}


def test_cadastro_serves_an_alphanumeric_cnpj_and_filters_by_platform(sim):
    client = CadastroClient(sim.url, 2)
    cnpj = sc.document_of("ALPHANUMERIC")
    assert {o.cpf for o in client.search(cnpj, sc.PLATFORM, sc.SCENARIOS["ALPHANUMERIC"]["expected_signers"])} == set(
        sc.SCENARIOS["ALPHANUMERIC"]["expected_signers"]
    )
    assert client.search(cnpj, "NO_SUCH_PLATFORM", sc.SCENARIOS["ALPHANUMERIC"]["expected_signers"]) == []


def test_a_repeated_notification_answers_200_and_is_recorded_once(sim):
    client = NotificacaoClient(sim.url, 2)
    args = (
        "K1:52998224725:EMAIL",
        "EMAIL",
        "maria@example.com",
        "ORDEM_PENDENTE_ASSINATURA",
        {"name": "Maria Souza", "order_key": "K1", "area_name": "Crédito PJ"},
    )
    assert client.send(*args) is True
    assert client.send(*args) is False
    assert client.send("K1:52998224725:SMS", "SMS", "+5511999990000", "ORDEM_PENDENTE_ASSINATURA", {}) is True
    recorded = sim.notifications()
    assert [n["notification_id"] for n in recorded] == ["K1:52998224725:EMAIL", "K1:52998224725:SMS"]
    assert recorded[0]["variables"]["area_name"] == "Crédito PJ"
    assert sim.counters()["notificacao"] == 3


def test_a_notification_with_an_unknown_channel_is_rejected(sim):
    with pytest.raises(PartnerRejected) as raised:
        NotificacaoClient(sim.url, 2).send("K2:x:FAX", "FAX", "x", "T", {})
    assert raised.value.status == 400
    assert sim.notifications() == []


def test_each_partner_counts_the_calls_it_received(sim):
    c = clients(sim.url)
    c["parametrizador"].get_area(sc.AREA_CREDITO_PJ)
    c["parametrizador"].get_area(sc.AREA_UNKNOWN)
    c["dominios"].get_domain("products")
    c["poderes"].get_powers(sc.document_of("QUORUM_AB"), "ASSINAR_CCB")
    c["pessoas"].search([sc.PF_KNOWN_CPF])
    c["cadastro"].search(sc.document_of("QUORUM_AB"), sc.PLATFORM, [sc.PF_KNOWN_CPF])
    requests.get(sim.url + "/v1/nowhere", timeout=2)  # no partner: counted nowhere
    assert sim.counters() == {
        "parametrizador": 2,
        "dominios": 1,
        "poderes": 1,
        "pessoas": 1,
        "cadastro": 1,
        "notificacao": 0,
    }
    sim.reset_counters()
    assert set(sim.counters().values()) == {0}


def test_a_wrong_method_is_405_with_allow(sim):
    response = requests.delete(sim.url + "/v1/areas/CREDITO_PJ", timeout=2)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


# --- faults -----------------------------------------------------------------------------------


def test_error_rate_one_makes_only_that_partner_unavailable(sim):
    sim.set_faults("poderes", error_rate=1.0)
    with pytest.raises(PartnerUnavailable) as raised:
        PoderesClient(sim.url, 2).get_powers(sc.document_of("QUORUM_AB"), "ASSINAR_CCB")
    assert (raised.value.partner, raised.value.status) == ("poderes", 503)
    assert ParametrizadorClient(sim.url, 2).get_area(sc.AREA_CREDITO_PJ) is not None
    sim.clear_faults()
    assert PoderesClient(sim.url, 2).get_powers(sc.document_of("QUORUM_AB"), "ASSINAR_CCB") is not None


def test_a_partner_that_is_down_answers_503_with_retry_after_every_time(sim):
    sim.set_faults("pessoas", down=True)
    answers = [requests.post(sim.url + "/v1/people/search", json={"cpfs": []}, timeout=2) for _ in range(5)]
    assert {a.status_code for a in answers} == {503}
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].json()["status"] == 503
    assert sim.counters()["pessoas"] == 5


def test_timeout_rate_one_makes_the_client_time_out(sim):
    sim.set_faults("dominios", timeout_rate=1.0, timeout_sleep_ms=3000)
    started = time.monotonic()
    with pytest.raises(PartnerUnavailable) as raised:
        DominiosClient(sim.url, timeout=0.2).get_domain("products")
    assert raised.value.status is None
    assert time.monotonic() - started < 1.5


def test_a_timed_out_notification_is_still_sent_so_the_retry_sees_200(sim):
    sim.set_faults("notificacao", timeout_rate=1.0, timeout_sleep_ms=300)
    client = NotificacaoClient(sim.url, timeout=0.1)
    args = ("K3:52998224725:EMAIL", "EMAIL", "maria@example.com", "T", {})
    with pytest.raises(PartnerUnavailable):
        client.send(*args)
    deadline = time.monotonic() + 3
    while not sim.notifications() and time.monotonic() < deadline:
        time.sleep(0.02)
    sim.clear_faults()
    assert client.send(*args) is False
    assert len(sim.notifications()) == 1


def test_latency_is_added_to_each_call(sim):
    sim.set_faults("parametrizador", latency_ms=150)
    client = ParametrizadorClient(sim.url, 2)
    client.get_area(sc.AREA_CREDITO_PJ)  # open the pooled connection first
    started = time.monotonic()
    client.get_area(sc.AREA_CREDITO_PJ)
    elapsed = time.monotonic() - started
    assert 0.145 <= elapsed < 0.15 + 0.35  # Event.wait may wake a hair early


def test_slow_calls_are_served_in_parallel(sim):
    sim.set_faults("dominios", latency_ms=300)
    client = DominiosClient(sim.url, 2)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.get_domain("products"), range(4)))
    assert all(r is not None for r in results)
    assert time.monotonic() - started < 0.3 * 2


def _outcomes(sim, calls: int) -> list[bool]:
    client = PessoasClient(sim.url, 2)
    outcomes = []
    for _ in range(calls):
        try:
            client.search([sc.PF_KNOWN_CPF])
            outcomes.append(True)
        except PartnerUnavailable:
            outcomes.append(False)
    return outcomes


def test_the_same_fault_seed_fails_the_same_calls(sim):
    sim.set_faults("pessoas", error_rate=0.5)
    sim.reseed(7)
    first = _outcomes(sim, 30)
    sim.reseed(7)
    second = _outcomes(sim, 30)
    assert first == second
    assert True in first and False in first


def test_faults_given_at_start_apply_from_the_first_call():
    with start_simulator(faults={"cadastro": {"down": True}}) as simulator:
        with pytest.raises(PartnerUnavailable):
            CadastroClient(simulator.url, 2).search("11222333000181", "BANKLINE", ["52998224725"])
        assert simulator.faults()["cadastro"]["down"] is True


def test_invalid_fault_settings_are_refused():
    with pytest.raises(ValueError):
        start_simulator(faults={"poderes": {"error_rate": 2}})
    with pytest.raises(ValueError):
        start_simulator(faults={"nobody": {"down": True}})


def test_a_stopped_simulator_refuses_even_pooled_connections():
    simulator = start_simulator()
    client = ParametrizadorClient(simulator.url, 1)
    assert client.get_area(sc.AREA_CREDITO_PJ) is not None
    simulator.stop()
    with pytest.raises(PartnerUnavailable):
        client.get_area(sc.AREA_CREDITO_PJ)


# --- admin API --------------------------------------------------------------------------------


def test_admin_api_changes_faults_while_running(sim):
    answer = requests.post(sim.url + "/_admin/faults", json={"pessoas": {"error_rate": 1.0}}, timeout=2)
    assert answer.status_code == 200 and answer.json()["pessoas"]["error_rate"] == 1.0
    assert requests.get(sim.url + "/_admin/faults", timeout=2).json()["pessoas"]["error_rate"] == 1.0
    with pytest.raises(PartnerUnavailable):
        PessoasClient(sim.url, 2).search([sc.PF_KNOWN_CPF])
    assert requests.post(sim.url + "/_admin/faults/reset", timeout=2).status_code == 200
    assert PessoasClient(sim.url, 2).search([sc.PF_KNOWN_CPF])


def test_admin_api_refuses_bad_faults_and_changes_nothing(sim):
    for body in (
        {"pessoas": {"error_rate": 0.5}, "poderes": {"error_rate": -1}},
        {"pessoas": {"down": "yes"}},
        {"ghost": {}},
        ["pessoas"],
    ):
        answer = requests.post(sim.url + "/_admin/faults", json=body, timeout=2)
        assert answer.status_code == 400, body
    assert requests.post(sim.url + "/_admin/faults", data="{not json", timeout=2).status_code == 400
    assert sim.faults()["pessoas"]["error_rate"] == 0.0


def test_admin_api_reads_and_resets_counters_and_notifications(sim):
    ParametrizadorClient(sim.url, 2).get_area(sc.AREA_CREDITO_PJ)
    NotificacaoClient(sim.url, 2).send("K4:1:SMS", "SMS", "+5511999990000", "T", {})
    counters = requests.get(sim.url + "/_admin/counters", timeout=2).json()
    assert set(counters) == set(PARTNERS)
    assert (counters["parametrizador"], counters["notificacao"]) == (1, 1)
    notes = requests.get(sim.url + "/_admin/notifications", timeout=2).json()["notifications"]
    assert [n["notification_id"] for n in notes] == ["K4:1:SMS"]
    reset = requests.post(sim.url + "/_admin/counters/reset", timeout=2).json()
    assert set(reset.values()) == {0}
    requests.post(sim.url + "/_admin/notifications/reset", timeout=2)
    assert requests.get(sim.url + "/_admin/notifications", timeout=2).json() == {"notifications": []}
    assert sim.counters()["parametrizador"] == 0  # admin calls count for no partner


def test_standalone_entry_serves_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ame_local.simulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = process.stdout.readline()
        url = banner.split()[3]
        assert requests.get(url + "/_admin/health", timeout=2).json()["status"] == "ok"
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- the seed data agrees with the scenario table ---------------------------------------------


def _all_seeded_documents(seed_dir: Path) -> tuple[set[str], set[str]]:
    load = lambda name: json.loads((seed_dir / f"{name}.json").read_text(encoding="utf-8"))  # noqa: E731
    cnpjs = {p["cnpj"] for p in load("powers")} | {o["cnpj"] for o in load("operators")}
    cpfs = {r["cpf"] for p in load("powers") for r in p["representatives"]}
    cpfs |= {p["cpf"] for p in load("people")} | {o["cpf"] for e in load("operators") for o in e["operators"]}
    return cnpjs, cpfs


def test_every_seeded_and_scenario_document_has_valid_check_digits():
    cnpjs, cpfs = _all_seeded_documents(REPO / "ame_local" / "simulator" / "seed")
    cnpjs |= {s["cnpj"] for s in sc.SCENARIOS.values() if "cnpj" in s}
    cpfs |= {s["cpf"] for s in sc.SCENARIOS.values() if "cpf" in s}
    assert [c for c in cnpjs if not stdnum_cnpj.is_valid(c)] == []
    assert [c for c in cpfs if not stdnum_cpf.is_valid(c)] == []
    assert any(not c.isdigit() for c in cnpjs)


def _reference_verdict(c: dict, name: str, on: date) -> tuple[str, str | None, list[str]]:
    """A deliberately naive reading of contracts §1/§2, to check the scenario table against the seeds."""
    scenario = sc.SCENARIOS[name]
    amount = Decimal(sc.ORDER_AMOUNT)
    if scenario["person_type"] == "PF":
        known = c["pessoas"].search([scenario["cpf"]])
        return (sc.QUORUM_MET, None, [scenario["cpf"]]) if known else (sc.NO_QUORUM, "PERSON_NOT_FOUND", [])
    area = c["parametrizador"].get_area(sc.AREA_CREDITO_PJ)
    code = area.power_codes.requester if scenario["role"] == "REQUESTER" else area.power_codes.guarantor
    powers = c["poderes"].get_powers(scenario["cnpj"], code)
    if powers is None or not powers.representatives:
        return sc.NO_QUORUM, "NO_REPRESENTATIVES", []

    def restricted(rep) -> bool:
        if (rep.valid_from and on < rep.valid_from) or (rep.valid_until and on > rep.valid_until):
            return True
        return any(
            r.type == "BLOCKED"
            or (r.type == "MAX_AMOUNT" and amount > r.amount)
            or r.type not in ("BLOCKED", "MAX_AMOUNT", "JOINT_ONLY")
            for r in rep.restrictions
        )

    free = [r for r in powers.representatives if not restricted(r)]
    if not free:
        return sc.NO_QUORUM, "ALL_RESTRICTED", []
    ops = {o.cpf: o for o in c["cadastro"].search(scenario["cnpj"], sc.PLATFORM, [r.cpf for r in free])}
    active = [r for r in free if r.cpf in ops and ops[r.cpf].operator_active and ops[r.cpf].account_access]
    known = {p.cpf for p in c["pessoas"].search([r.cpf for r in active])}
    assert known == {r.cpf for r in active}, f"{name}: every active representative must be known to Pessoas"
    if not active:
        return sc.NO_QUORUM, "NO_ACTIVE_OPERATOR", []
    signers: set[str] = set()
    for rule in powers.rules:
        if rule.max_amount is not None and amount > rule.max_amount:
            continue
        slots = [q.group for q in rule.requirements for _ in range(q.min_signers)]
        joint = len(slots) >= 2
        eligible = [r for r in active if joint or all(x.type != "JOINT_ONLY" for x in r.restrictions)]
        for people in itertools.permutations(eligible, len(slots)):
            if all(group in person.groups for group, person in zip(slots, people)):
                signers |= {r.cpf for r in eligible if set(r.groups) & set(slots)}
                break
    if not signers:
        return sc.NO_QUORUM, "NO_RULE_SATISFIED", []
    return sc.QUORUM_MET, None, sorted(signers)


@pytest.mark.parametrize("on", [date(2026, 11, 29), date(2099, 4, 30)])
@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_the_scenario_table_matches_what_the_simulator_serves(sim, name, on):
    scenario = sc.SCENARIOS[name]
    expected = (scenario["expected_status"], scenario["expected_reason"], scenario["expected_signers"])
    assert _reference_verdict(clients(sim.url), name, on) == expected


def test_order_bodies_from_scenarios_follow_the_contract_shape():
    body = sc.order_body("ALPHANUMERIC", ["PF_KNOWN", "GUARANTOR_PJ"], external_reference="ref-1")
    assert body["requester"] == {"person_type": "PJ", "document": "12ABC34501DE35"}
    assert [g["document"] for g in body["guarantors"]] == [sc.PF_KNOWN_CPF, "60606060000184"]
    assert (body["amount"], body["area_code"], body["external_reference"]) == ("250000.00", "CREDITO_PJ", "ref-1")
    assert sc.expected_order_status("QUORUM_AB", ["PF_KNOWN", "GUARANTOR_PJ"]) == sc.QUORUM_MET
    assert sc.expected_order_status("QUORUM_AB", ["PF_UNKNOWN"]) == sc.NO_QUORUM
    with pytest.raises(ValueError):
        sc.expected_order_status("GUARANTOR_PJ")
