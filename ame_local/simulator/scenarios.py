"""Named cases of the seed data and the verdict each one must get, for end-to-end and chaos tests.

Verdicts assume: area CREDITO_PJ, platform BANKLINE, amount ORDER_AMOUNT ("250000.00") and an
evaluation date from 2026-11-29 to 2099-04-30 (no seeded mandate starts or ends inside that window).
A PJ scenario holds in its `role` (requester powers are ASSINAR_CCB, guarantor powers PRESTAR_AVAL);
a PF scenario holds in either role. To judge a guarantor alone, pair it with a QUORUM_AB requester.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

AREA_CREDITO_PJ = "CREDITO_PJ"  # active, powers and operator checks, has a webhook
AREA_WITHOUT_WEBHOOK = "CAMBIO_PF"  # active, no webhook (result queue only)
AREA_INACTIVE = "AREA_INATIVA"
AREA_UNKNOWN = "AREA_INEXISTENTE"  # Parametrizador answers 404

PRODUCT_ACTIVE = "CCB_GIRO"
PRODUCT_INACTIVE = "CCB_ROTATIVO_LEGADO"
DOCUMENT_TYPE_ACTIVE = "CCB"
DOCUMENT_TYPE_INACTIVE = "NOTA_PROMISSORIA"
PLATFORM = "BANKLINE"
SIGNATURE_METHOD = "DIGITAL"
ORDER_AMOUNT = "250000.00"
AREA_MAX_AMOUNT = "5000000.00"  # CREDITO_PJ limit; one cent more is a validation error

PF_KNOWN_CPF = "52998224725"  # Maria Souza: email and phone
PF_EMAIL_ONLY_CPF = "22360679767"  # Sofia Araújo: email, no phone
PF_PHONE_ONLY_CPF = "30102999589"  # Tiago Rezende: phone, no email
PF_UNKNOWN_CPF = "26457513182"  # valid check digits, unknown to Pessoas

QUORUM_MET = "QUORUM_MET"
NO_QUORUM = "NO_QUORUM"

SCENARIOS: dict[str, dict[str, Any]] = {
    "QUORUM_AB": {
        "cnpj": "11222333000181",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": ["11144477735", "12345678909"],
        "description": "R1 (A sozinho) só vale até R$ 100 mil; R2 (A+B) é cumprida por João (A) e Carla (B). "
        "Maria (A) tem ressalva MAX_AMOUNT 100000.00 e fica de fora.",
    },
    "NO_REPRESENTATIVES": {
        "cnpj": "10101010000177",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": NO_QUORUM,
        "expected_reason": "NO_REPRESENTATIVES",
        "expected_signers": [],
        "description": "Poderes responde 404: a empresa não tem representantes para ASSINAR_CCB.",
    },
    "ALL_RESTRICTED": {
        "cnpj": "20202020000152",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": NO_QUORUM,
        "expected_reason": "ALL_RESTRICTED",
        "expected_signers": [],
        "description": "Três representantes, todos com ressalva: MAX_AMOUNT 200000.00, BLOCKED e mandato "
        "vencido em 2025-12-31. Todos têm operador ativo.",
    },
    "NO_ACTIVE_OPERATOR": {
        "cnpj": "30303030000138",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": NO_QUORUM,
        "expected_reason": "NO_ACTIVE_OPERATOR",
        "expected_signers": [],
        "description": "Três representantes sem ressalva; no Cadastro Único um tem operador inativo, "
        "outro não tem acesso à conta e o terceiro não tem operador.",
    },
    "SINGLE_NO_SOLO_RULE": {
        "cnpj": "40404040000113",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": NO_QUORUM,
        "expected_reason": "NO_RULE_SATISFIED",
        "expected_signers": [],
        "description": "Só Gustavo (A) resta ativo (Helena BLOCKED, Igor com mandato a partir de 2099-06-01); "
        "as regras pedem dois do grupo A ou A+B.",
    },
    "TWO_GROUPS_ONE_PERSON": {
        "cnpj": "50505050000107",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": NO_QUORUM,
        "expected_reason": "NO_RULE_SATISFIED",
        "expected_signers": [],
        "description": "A única regra é A+B; Juliana está em A e B mas ocupa uma vaga só; Marcos (A) tem "
        "ressalva MAX_AMOUNT 100000.00.",
    },
    "ALPHANUMERIC": {
        "cnpj": "12ABC34501DE35",
        "person_type": "PJ",
        "role": "REQUESTER",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": ["16180339805", "27182818205"],
        "description": "CNPJ alfanumérico. Natália (A) assina sozinha por R1 (até R$ 1 milhão); Otávio (B, "
        "JOINT_ONLY) só em conjunto, por R2 (A+B).",
    },
    "GUARANTOR_PJ": {
        "cnpj": "60606060000184",
        "person_type": "PJ",
        "role": "GUARANTOR",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": ["14142135651", "17320508052"],
        "description": "Avalista PJ com poderes PRESTAR_AVAL: dois do grupo A em conjunto, ambos ativos.",
    },
    "PF_KNOWN": {
        "cpf": PF_KNOWN_CPF,
        "person_type": "PF",
        "role": "GUARANTOR",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": [PF_KNOWN_CPF],
        "description": "Pessoa física conhecida da Pessoas, com email e telefone.",
    },
    "PF_EMAIL_ONLY": {
        "cpf": PF_EMAIL_ONLY_CPF,
        "person_type": "PF",
        "role": "GUARANTOR",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": [PF_EMAIL_ONLY_CPF],
        "description": "Pessoa física conhecida, só com email (telefone nulo).",
    },
    "PF_PHONE_ONLY": {
        "cpf": PF_PHONE_ONLY_CPF,
        "person_type": "PF",
        "role": "GUARANTOR",
        "expected_status": QUORUM_MET,
        "expected_reason": None,
        "expected_signers": [PF_PHONE_ONLY_CPF],
        "description": "Pessoa física conhecida, só com telefone (email nulo).",
    },
    "PF_UNKNOWN": {
        "cpf": PF_UNKNOWN_CPF,
        "person_type": "PF",
        "role": "GUARANTOR",
        "expected_status": NO_QUORUM,
        "expected_reason": "PERSON_NOT_FOUND",
        "expected_signers": [],
        "description": "CPF válido que a Pessoas não conhece.",
    },
}


def document_of(name: str) -> str:
    scenario = SCENARIOS[name]
    return scenario.get("cnpj") or scenario["cpf"]


def party(name: str) -> dict[str, str]:
    """The request party for a scenario: {"person_type", "document"} (unformatted)."""
    return {"person_type": SCENARIOS[name]["person_type"], "document": document_of(name)}


def order_body(
    requester: str = "QUORUM_AB",
    guarantors: Iterable[str] = (),
    *,
    amount: str = ORDER_AMOUNT,
    area_code: str = AREA_CREDITO_PJ,
    product_code: str = PRODUCT_ACTIVE,
    document_type: str = DOCUMENT_TYPE_ACTIVE,
    external_reference: str | None = None,
) -> dict[str, Any]:
    """A POST /v1/orders body (docs/contracts.md §2) built from scenario names."""
    body: dict[str, Any] = {
        "area_code": area_code,
        "product_code": product_code,
        "platform": PLATFORM,
        "signature_method": SIGNATURE_METHOD,
        "amount": amount,
        "requester": party(requester),
        "guarantors": [party(g) for g in guarantors],
        "documents": [{"document_type": document_type, "title": "Contrato de teste"}],
    }
    if external_reference is not None:
        body["external_reference"] = external_reference
    return body


def expected_order_status(requester: str = "QUORUM_AB", guarantors: Iterable[str] = ()) -> str:
    """The order's status for these parties under the default assumptions: met when every party is."""
    names = [(requester, "REQUESTER")] + [(g, "GUARANTOR") for g in guarantors]
    for name, role in names:
        scenario = SCENARIOS[name]
        if scenario["person_type"] == "PJ" and scenario["role"] != role:
            raise ValueError(f"{name} has no verdict as {role}; it is a {scenario['role']} scenario")
    met = all(SCENARIOS[name]["expected_status"] == QUORUM_MET for name, _ in names)
    return QUORUM_MET if met else NO_QUORUM
