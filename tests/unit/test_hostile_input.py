"""Input that used to reach a 500 or be stored as sent: deep nesting, huge numbers, path walking codes,
hidden and look-alike characters. Each answers a 4xx naming what is wrong, and nothing is stored."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.orders import DocumentRequest, OrderRequest
from chalicelib.domain.text import InvalidCharacters, clean_text
from chalicelib.entrypoints.json_body import MAX_DEPTH, nesting_depth, parse_json
from chalicelib.entrypoints.problems import BadRequest
from tests.unit.test_api_routes import AUTH, api, post  # noqa: F401  (fixture)
from tests.unit.test_order_request import valid_body


def simulate(client, body):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post("/v1/quorum/simulations", body=raw, headers={"Content-Type": "application/json", **AUTH})


SIMULATION = {"area_code": "CREDITO_PJ", "company": "11.222.333/0001-81", "amount": "1000.00"}

HOSTILE_BODIES = {
    "100,000 nested [": b"[" * 100_000 + b"]" * 100_000,
    "40,000 nested {": b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
    "33 levels": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "unclosed 100,000 [": b"[" * 100_000,
    "5,000-digit integer in an unknown field": b'{"area_code": "CREDITO_PJ", "x": ' + b"9" * 5000 + b"}",
    "5,000-digit float": b'{"amount": 1.' + b"5" * 5000 + b"}",
    "huge exponent": b'{"amount": 1e' + b"9" * 60 + b"}",
    "NaN": b'{"amount": NaN}',
    "Infinity": b'{"amount": -Infinity}',
    "not UTF-8": b'{"title": "\xff\xfe"}',
}


@pytest.mark.parametrize("route", ["orders", "simulations"])
@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_json_is_a_400_malformed_json_and_stores_nothing(api, route, name):
    client, c = api
    send = post if route == "orders" else simulate
    response = send(client, HOSTILE_BODIES[name])
    assert response.status_code == 400, response.body
    assert json.loads(response.body)["code"] == "MALFORMED_JSON"
    assert c.repository.orders == {}


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine():
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    text = json.dumps({"title": "[" * 1000 + "{" * 1000})
    assert nesting_depth(text) == 1 and parse_json(text)["title"].startswith("[[[")
    assert parse_json(b'{"n": ' + b"1" * 40 + b"}")["n"] == int("1" * 40)


def test_an_oversized_number_is_refused_before_python_tries_to_convert_it():
    with pytest.raises(BadRequest) as refused:
        parse_json(b"[" + b"1" * 41 + b"]")
    assert (refused.value.status, refused.value.code) == (400, "MALFORMED_JSON")


@pytest.mark.parametrize(
    "code", ["..", ".", "...", ".hidden", "../ASSINAR_CCB", "ASSINAR/..", "A%2F..", "ASSINAR CCB", "x" * 65]
)
def test_a_simulation_power_code_that_could_walk_the_poderes_url_is_a_422_naming_it(api, code):
    # The power code comes from the area's settings; whatever a client sends there is refused by name.
    client, _ = api
    response = simulate(client, {**SIMULATION, "power_code": code})
    assert response.status_code == 422, response.body
    problem = json.loads(response.body)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("power_code", "POWER_CODE_FROM_AREA")]


@pytest.mark.parametrize("field", ["area_code", "product_code", "platform", "signature_method"])
def test_order_codes_sent_as_path_segments_refuse_dot_segments(api, field):
    client, c = api
    response = post(client, valid_body(**{field: ".."}))
    assert response.status_code in (403, 422)  # area_code: a caller never serves ".."
    if response.status_code == 422:
        assert (field, "INVALID_FORMAT") in [(e["field"], e["code"]) for e in json.loads(response.body)["errors"]]
    assert c.repository.orders == {}


HIDDEN = {
    "NUL": "contrato\x00123",
    "CR/LF": "contrato\r\nX-Forged: 1",
    "ESC": "contrato\x1b[31m123",
    "TAB": "contrato\t123",
    "DEL": "contrato\x7f",
    "RLO U+202E": "contrato-\u202e321",
    "LRE U+202A": "\u202acontrato",
    "PDF U+202C": "contrato\u202c",
    "RLI U+2067": "contrato\u2067x\u2069",
    "FSI U+2068": "\u2068contrato",
    "zero-width space": "contra\u200bto",
    "zero-width joiner": "contra\u200dto",
    "word joiner": "contra\u2060to",
    "BOM": "\ufeffcontrato",
    "line separator": "contrato\u2028123",
    "Cyrillic o in a Latin word": "c\u043entrato-123",
    "Greek omicron in a Latin word": "C\u03bfntrato",
    "Cyrillic a in a Latin word": "p\u0430ypal",
}


@pytest.mark.parametrize("name", list(HIDDEN))
def test_hidden_and_look_alike_characters_in_external_reference_are_422_invalid_characters(api, name):
    client, c = api
    response = post(client, valid_body(external_reference=HIDDEN[name]))
    assert response.status_code == 422, response.body
    errors = json.loads(response.body)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("external_reference", "INVALID_CHARACTERS")]
    assert c.repository.orders == {}


@pytest.mark.parametrize("name", ["NUL", "CR/LF", "RLO U+202E", "zero-width space", "Cyrillic o in a Latin word"])
def test_hidden_and_look_alike_characters_in_a_document_title_are_422_naming_it(api, name):
    client, c = api
    documents = [{"document_type": "CCB", "title": "ok"}, {"document_type": "CCB", "title": HIDDEN[name]}]
    response = post(client, valid_body(documents=documents))
    assert response.status_code == 422
    errors = json.loads(response.body)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("documents[1].title", "INVALID_CHARACTERS")]
    assert c.repository.orders == {}


@pytest.mark.parametrize(
    "text",
    [
        "Contrato CCB nº 123 — São Paulo",
        "Договор 123",
        "Σύμβαση 5",
        "契約書 7",
        "Crédito PJ / João & Maria (2026)",
        "contrato-123 😀",
    ],
)
def test_ordinary_text_in_any_one_script_passes(text):
    assert clean_text(text) == text


def test_text_is_stored_in_nfc():
    decomposed = "Cre\u0301dito Sa\u0303o Paulo"
    request = OrderRequest.model_validate(
        valid_body(external_reference=decomposed, documents=[{"document_type": "CCB", "title": decomposed}])
    )
    assert request.external_reference == "Crédito São Paulo" == request.documents[0].title
    assert DocumentRequest(document_type="CCB", title="Ma\u0301rio").title == "Mário"


def test_the_refusal_names_the_character():
    with pytest.raises(InvalidCharacters, match="U\\+202E"):
        clean_text("abc\u202edef")
