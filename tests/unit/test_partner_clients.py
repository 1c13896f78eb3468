"""Partner HTTP clients against `responses`: typed results, error mapping, batching and quoting."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from chalicelib.adapters.partners import (
    CadastroClient,
    DominiosClient,
    NotificacaoClient,
    ParametrizadorClient,
    PartnerError,
    PartnerRejected,
    PartnerUnavailable,
    PessoasClient,
    PoderesClient,
)
from chalicelib.domain.partners import AreaSettings, CompanyPowers, DomainValues

BASE = "http://partners.test"
CNPJ = "11222333000181"
ALNUM_CNPJ = "12ABC34501DE35"


def _cpfs(count: int) -> list[str]:
    # Clients do not validate check digits (callers already did); distinct strings are enough here.
    return [f"{n:011d}" for n in range(1, count + 1)]


AREA = {
    "area_code": "CREDITO_PJ",
    "name": "Crédito PJ",
    "active": True,
    "cost_center": "4471",
    "platforms": ["BANKLINE"],
    "signature_methods": ["DIGITAL"],
    "powers_check": True,
    "operator_check": True,
    "power_codes": {"requester": "ASSINAR_CCB", "guarantor": "PRESTAR_AVAL"},
    "limits": {"max_amount": "5000000.00", "max_guarantors": 3, "max_documents": 10},
    "webhook": {"url": "http://127.0.0.1:9100/hooks/credito-pj", "secret_ref": "ame/webhooks/CREDITO_PJ"},
    "a_field_added_later": "ignored",
}
POWERS = {
    "cnpj": CNPJ,
    "power_code": "ASSINAR_CCB",
    "representatives": [
        {
            "cpf": "52998224725",
            "groups": ["A"],
            "valid_from": "2020-01-01",
            "valid_until": None,
            "restrictions": [{"type": "MAX_AMOUNT", "amount": "100000.00"}],
        },
        {
            "cpf": "11144477735",
            "groups": ["A", "B"],
            "valid_from": "2021-05-10",
            "valid_until": "2027-05-10",
            "restrictions": [],
        },
    ],
    "rules": [
        {
            "rule_id": "R2",
            "description": "A com B",
            "max_amount": None,
            "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
        },
    ],
}

# partner → (client class, the call, HTTP method, path the call hits, a valid 2xx body)
CALLS: dict[str, tuple[type, Callable[[Any], Any], str, str, Any]] = {
    "parametrizador": (ParametrizadorClient, lambda c: c.get_area("CREDITO_PJ"), "GET", "/v1/areas/CREDITO_PJ", AREA),
    "dominios": (
        DominiosClient,
        lambda c: c.get_domain("products"),
        "GET",
        "/v1/domains/products",
        {"domain": "products", "values": []},
    ),
    "poderes": (
        PoderesClient,
        lambda c: c.get_powers(CNPJ, "ASSINAR_CCB"),
        "GET",
        f"/v1/companies/{CNPJ}/powers/ASSINAR_CCB",
        POWERS,
    ),
    "pessoas": (PessoasClient, lambda c: c.search(["52998224725"]), "POST", "/v1/people/search", {"people": []}),
    "cadastro": (
        CadastroClient,
        lambda c: c.search(CNPJ, "BANKLINE", ["52998224725"]),
        "POST",
        f"/v1/companies/{CNPJ}/operators/search",
        {"operators": []},
    ),
    "notificacao": (
        NotificacaoClient,
        lambda c: c.send("K:52998224725:EMAIL", "EMAIL", "maria@example.com", "T", {}),
        "POST",
        "/v1/notifications",
        {"status": "ACCEPTED"},
    ),
}
PARTNER_NAMES = sorted(CALLS)
GET_PARTNERS = ["dominios", "parametrizador", "poderes"]
PARSING_PARTNERS = [p for p in PARTNER_NAMES if p != "notificacao"]


@pytest.fixture()
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def _call(partner: str, timeout: float = 2.0) -> Any:
    cls, call, *_ = CALLS[partner]
    return call(cls(BASE, timeout=timeout))


def _register(rsps: responses.RequestsMock, partner: str, **kwargs: Any) -> None:
    _, _, method, path, _ = CALLS[partner]
    rsps.add(method, BASE + path, **kwargs)


# --- success mapping --------------------------------------------------------------------------


def test_parametrizador_maps_the_area_to_typed_settings(rsps):
    rsps.get(f"{BASE}/v1/areas/CREDITO_PJ", json=AREA)
    area = ParametrizadorClient(BASE, timeout=2).get_area("CREDITO_PJ")
    assert isinstance(area, AreaSettings)
    assert area.limits.max_amount == Decimal("5000000.00")
    assert area.power_codes.guarantor == "PRESTAR_AVAL"
    assert area.webhook is not None and area.webhook.secret_ref == "ame/webhooks/CREDITO_PJ"


def test_parametrizador_area_without_webhook_maps_to_none(rsps):
    rsps.get(f"{BASE}/v1/areas/CAMBIO_PF", json={**AREA, "area_code": "CAMBIO_PF", "webhook": None})
    assert ParametrizadorClient(BASE).get_area("CAMBIO_PF").webhook is None


def test_dominios_maps_values_and_finds_a_key(rsps):
    rsps.get(
        f"{BASE}/v1/domains/document_types",
        json={
            "domain": "document_types",
            "values": [
                {"key": "CCB", "label": "Cédula de Crédito Bancário", "active": True},
                {"key": "NP", "label": "Nota Promissória", "active": False},
            ],
        },
    )
    domain = DominiosClient(BASE).get_domain("document_types")
    assert isinstance(domain, DomainValues)
    assert domain.find("CCB").active is True
    assert domain.find("NP").active is False
    assert domain.find("XYZ") is None


def test_poderes_maps_representatives_rules_and_restrictions(rsps):
    rsps.get(f"{BASE}/v1/companies/{CNPJ}/powers/ASSINAR_CCB", json=POWERS)
    powers = PoderesClient(BASE).get_powers(CNPJ, "ASSINAR_CCB")
    assert isinstance(powers, CompanyPowers)
    assert [r.cpf for r in powers.representatives] == ["52998224725", "11144477735"]
    assert powers.representatives[0].restrictions[0].amount == Decimal("100000.00")
    assert powers.representatives[1].valid_until.isoformat() == "2027-05-10"
    assert powers.rules[0].max_amount is None
    assert [q.group for q in powers.rules[0].requirements] == ["A", "B"]


def test_poderes_puts_an_alphanumeric_cnpj_in_the_path(rsps):
    rsps.get(f"{BASE}/v1/companies/{ALNUM_CNPJ}/powers/ASSINAR_CCB", json={**POWERS, "cnpj": ALNUM_CNPJ})
    assert PoderesClient(BASE).get_powers(ALNUM_CNPJ, "ASSINAR_CCB").cnpj == ALNUM_CNPJ


@pytest.mark.parametrize("code", ["..", ".", "A/..?x=1", "CRÉDITO PJ", "A%2F..", ".hidden", "x" * 65, ""])
def test_a_path_segment_outside_the_code_pattern_is_never_sent(rsps, code):
    with pytest.raises(PartnerRejected):
        PoderesClient(BASE).get_powers(CNPJ, code)
    with pytest.raises(PartnerRejected):
        ParametrizadorClient(BASE).get_area(code)
    with pytest.raises(PartnerRejected):
        DominiosClient(BASE).get_domain(code)
    assert len(rsps.calls) == 0


def test_pessoas_maps_people_with_missing_contacts(rsps):
    rsps.post(
        f"{BASE}/v1/people/search",
        json={"people": [{"cpf": "52998224725", "name": "Maria Souza", "email": "maria@example.com", "phone": None}]},
    )
    people = PessoasClient(BASE).search(["52998224725", "11144477735"])
    assert [(p.cpf, p.email, p.phone) for p in people] == [("52998224725", "maria@example.com", None)]
    assert json.loads(rsps.calls[0].request.body) == {"cpfs": ["52998224725", "11144477735"]}


def test_pessoas_searches_250_cpfs_in_three_calls_of_at_most_100(rsps):
    cpfs = _cpfs(250)
    rsps.post(f"{BASE}/v1/people/search", json={"people": [{"cpf": cpfs[0], "name": "Primeira"}]})
    rsps.post(f"{BASE}/v1/people/search", json={"people": []})
    rsps.post(f"{BASE}/v1/people/search", json={"people": [{"cpf": cpfs[-1], "name": "Última"}]})
    people = PessoasClient(BASE).search(cpfs)
    sent = [json.loads(call.request.body)["cpfs"] for call in rsps.calls]
    assert [len(batch) for batch in sent] == [100, 100, 50]
    assert [c for batch in sent for c in batch] == cpfs
    assert [p.cpf for p in people] == [cpfs[0], cpfs[-1]]


def test_pessoas_sends_each_cpf_once_and_skips_the_call_when_there_is_none(rsps):
    rsps.post(f"{BASE}/v1/people/search", json={"people": []})
    PessoasClient(BASE).search(["52998224725", "11144477735", "52998224725"])
    assert json.loads(rsps.calls[0].request.body) == {"cpfs": ["52998224725", "11144477735"]}
    assert PessoasClient(BASE).search([]) == []
    assert len(rsps.calls) == 1


def test_cadastro_maps_operators_and_sends_the_platform(rsps):
    rsps.post(
        f"{BASE}/v1/companies/{ALNUM_CNPJ}/operators/search",
        json={"operators": [{"cpf": "52998224725", "operator_active": True, "account_access": False}]},
    )
    operators = CadastroClient(BASE).search(ALNUM_CNPJ, "BANKLINE", ["52998224725"])
    assert [(o.cpf, o.operator_active, o.account_access) for o in operators] == [("52998224725", True, False)]
    assert json.loads(rsps.calls[0].request.body) == {"platform": "BANKLINE", "cpfs": ["52998224725"]}


def test_cadastro_searches_250_cpfs_in_three_calls(rsps):
    cpfs = _cpfs(250)
    for _ in range(3):
        rsps.post(f"{BASE}/v1/companies/{CNPJ}/operators/search", json={"operators": []})
    assert CadastroClient(BASE).search(CNPJ, "BANKLINE", cpfs + cpfs[:10]) == []
    sizes = [len(json.loads(call.request.body)["cpfs"]) for call in rsps.calls]
    assert sizes == [100, 100, 50]


def test_notificacao_is_true_when_accepted_and_false_when_already_sent(rsps):
    rsps.post(f"{BASE}/v1/notifications", status=202, json={"status": "ACCEPTED"})
    rsps.post(f"{BASE}/v1/notifications", status=200, json={"status": "ALREADY_SENT"})
    client = NotificacaoClient(BASE)
    args = (
        "K:52998224725:EMAIL",
        "EMAIL",
        "maria@example.com",
        "ORDEM_PENDENTE_ASSINATURA",
        {"name": "Maria Souza", "order_key": "K"},
    )
    assert client.send(*args) is True
    assert client.send(*args) is False
    assert json.loads(rsps.calls[0].request.body) == {
        "notification_id": "K:52998224725:EMAIL",
        "channel": "EMAIL",
        "recipient": "maria@example.com",
        "template": "ORDEM_PENDENTE_ASSINATURA",
        "variables": {"name": "Maria Souza", "order_key": "K"},
    }


# --- errors, for every client -----------------------------------------------------------------


@pytest.mark.parametrize("partner", GET_PARTNERS)
def test_a_404_on_a_lookup_means_not_found(rsps, partner):
    _register(rsps, partner, status=404, json={"title": "Not Found"})
    assert _call(partner) is None


@pytest.mark.parametrize("partner", ["cadastro", "notificacao", "pessoas"])
def test_a_404_on_a_search_or_send_is_permanent(rsps, partner):
    _register(rsps, partner, status=404)
    with pytest.raises(PartnerRejected) as raised:
        _call(partner)
    assert raised.value.status == 404


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize("partner", PARTNER_NAMES)
def test_a_5xx_is_transient(rsps, partner, status):
    _register(rsps, partner, status=status, json={"title": "erro"})
    with pytest.raises(PartnerUnavailable) as raised:
        _call(partner)
    assert (raised.value.partner, raised.value.status) == (partner, status)


@pytest.mark.parametrize("partner", PARTNER_NAMES)
def test_a_timeout_is_transient_and_has_no_status(rsps, partner):
    _register(rsps, partner, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(PartnerUnavailable) as raised:
        _call(partner)
    assert (raised.value.partner, raised.value.status) == (partner, None)
    assert isinstance(raised.value.__cause__, requests.exceptions.ReadTimeout)


@pytest.mark.parametrize("partner", PARTNER_NAMES)
def test_a_connection_error_is_transient(rsps, partner):
    _register(rsps, partner, body=requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(PartnerUnavailable) as raised:
        _call(partner)
    assert raised.value.status is None


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422, 429])
@pytest.mark.parametrize("partner", PARTNER_NAMES)
def test_any_other_4xx_is_permanent(rsps, partner, status):
    _register(rsps, partner, status=status, json={"title": "recusado"})
    with pytest.raises(PartnerRejected) as raised:
        _call(partner)
    assert (raised.value.partner, raised.value.status) == (partner, status)


@pytest.mark.parametrize("partner", PARSING_PARTNERS)
def test_a_2xx_that_is_not_json_is_permanent(rsps, partner):
    _register(rsps, partner, status=200, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(PartnerRejected) as raised:
        _call(partner)
    assert raised.value.status == 200


@pytest.mark.parametrize("partner", PARSING_PARTNERS)
def test_a_2xx_that_breaks_the_schema_is_permanent(rsps, partner):
    _register(rsps, partner, status=200, json={"unexpected": True})
    with pytest.raises(PartnerRejected):
        _call(partner)


def test_a_failing_second_batch_fails_the_whole_search(rsps):
    rsps.post(f"{BASE}/v1/people/search", json={"people": []})
    rsps.post(f"{BASE}/v1/people/search", status=503)
    with pytest.raises(PartnerUnavailable):
        PessoasClient(BASE).search(_cpfs(150))


def test_both_error_kinds_are_partner_errors():
    assert issubclass(PartnerUnavailable, PartnerError) and issubclass(PartnerRejected, PartnerError)
    assert not issubclass(PartnerUnavailable, PartnerRejected)


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("partner", PARTNER_NAMES)
def test_every_call_carries_the_configured_timeout(rsps, partner):
    _, _, _, _, body = CALLS[partner]
    _register(rsps, partner, status=202 if partner == "notificacao" else 200, json=body)
    _call(partner, timeout=0.75)
    assert rsps.calls[0].request.req_kwargs["timeout"] == 0.75


def test_default_session_has_a_connection_pool_without_hidden_retries():
    client = PoderesClient(BASE + "/", timeout=1.5)
    adapter = client.session.get_adapter(BASE)
    assert isinstance(adapter, HTTPAdapter)
    assert adapter._pool_maxsize >= 10
    assert adapter.max_retries.total == 0
    assert client.base_url == BASE


def test_a_given_session_is_used_as_is(rsps):
    session = requests.Session()
    session.headers["X-Probe"] = "sim"
    rsps.get(f"{BASE}/v1/areas/CREDITO_PJ", json=AREA)
    client = ParametrizadorClient(BASE, timeout=1, session=session)
    client.get_area("CREDITO_PJ")
    assert client.session is session
    assert rsps.calls[0].request.headers["X-Probe"] == "sim"


def test_a_non_positive_timeout_is_refused():
    with pytest.raises(ValueError):
        DominiosClient(BASE, timeout=0)


def test_sessions_skip_the_per_call_environment_scan_only_when_no_proxy_is_configured(monkeypatch):
    from chalicelib.adapters.partners import build_session

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert build_session().trust_env is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.bank.example:3128")
    assert build_session().trust_env is True  # proxies and NO_PROXY keep being honoured per call
