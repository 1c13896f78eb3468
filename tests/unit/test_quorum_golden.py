"""The engine's whole answer pinned on seeded companies, so that speed work cannot change a byte of it."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.partners import CompanyPowers
from chalicelib.domain.quorum import PartyEvaluation, evaluate_party

ON = date(2026, 11, 29)
AMOUNT = Decimal("250000.00")

# name -> (representatives, groups, rules, max requirements, max min_signers, what-if size, seed)
CASES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "tiny_groups_many_failures": (40, 8, 30, 3, 3, 0, 16),
    "what_if_on_a_small_company": (25, 5, 20, 3, 2, 4, 12),
    "scarce_people_critical_signers": (8, 4, 4, 2, 2, 1, 30),
    "no_quorum_small_company": (6, 3, 3, 2, 1, 0, 34),
    "groups_smaller_than_their_rules": (5, 5, 8, 3, 3, 0, 47),
    "mid_company_some_failures": (300, 12, 80, 5, 4, 10, 14),
    "benchmark_like_company": (1000, 20, 200, 5, 3, 0, 15),
    "large_company_what_if": (10000, 20, 200, 5, 3, 25, 16),
}

# sha256 of json.dumps(to_dict()) per case, computed with the engine as it was before the speed work
# (commit a506c14). A change here is a change of the engine's answer: make it only on purpose.
EXPECTED = {
    "tiny_groups_many_failures": "4980277f75f6d158714856093b35474ebf62801872ec029d16e4ec62f9f9346a",
    "what_if_on_a_small_company": "cf455a5f67ddc57b670b91aa477d3a518b62d3bd68d62fd03b7d6541465dbea8",
    "scarce_people_critical_signers": "aeb0682c7e1a239e71ec76dedfd15a178aceffad152aa0ce0c135ab09be9f9ad",
    "groups_smaller_than_their_rules": "02c76a4e3f8123b32c0cc47ae80133fe3d125b2e0585dd4cf2bde7fcbbb25973",
    "no_quorum_small_company": "7741f828305f8a31a9c3a0cdcd06dbe8831ee1946d13ae3cf17d903d36070a1b",
    "mid_company_some_failures": "ab6a73772d635587ba8d25c7f6164e5d0bd63338e674bd115890ec685aa853b7",
    "benchmark_like_company": "e0203728a5055035f256ec6f7314597f5f3b15f7d55262da78d98c09fbb52d89",
    "large_company_what_if": "f68e9038226d638929c7f2bbe8fd8c060032d670a64579225059ff3c546f75f4",
}


def seeded_case(
    people: int, groups: int, rules: int, max_requirements: int, max_signers: int, what_if: int, seed: int
) -> tuple[CompanyPowers, dict[str, list[str]], list[str]]:
    """A company with every kind of restriction, finding, repeated CPF and lint problem, from one seed."""
    rnd = random.Random(seed)
    names = [f"G{i:02d}" for i in range(groups)]
    cpfs = [str(n) for n in rnd.sample(range(10**10, 10**11), people)]
    reps: list[dict[str, Any]] = []
    inactive: dict[str, list[str]] = {}
    for cpf in cpfs:
        restrictions: list[dict[str, Any]] = []
        roll = rnd.random()
        if roll < 0.06:
            restrictions.append({"type": "MAX_AMOUNT", "amount": f"{rnd.randrange(50, 500) * 1000}.00"})
        elif roll < 0.08:
            restrictions.append({"type": "MAX_AMOUNT"})
        elif roll < 0.10:
            restrictions.append({"type": "BLOCKED", "reason": "Mandato suspenso"})
        elif roll < 0.16:
            restrictions.append({"type": "JOINT_ONLY"})
        elif roll < 0.17:
            restrictions.append({"type": rnd.choice(["PROCURACAO_ESPECIAL", "blocked"])})
        elif roll < 0.19:
            restrictions += [{"type": "JOINT_ONLY"}, {"type": "BLOCKED"}, {"type": "MAX_AMOUNT", "amount": "1.00"}]
        reps.append(
            {
                "cpf": cpf,
                "groups": rnd.sample(names, rnd.randint(1, min(3, groups))),
                "valid_from": rnd.choice([None, "2019-03-01", "2026-11-29", "2026-11-30"] + ["2024-01-15"] * 6),
                "valid_until": rnd.choice([None, "2026-11-28", "2026-11-29"] + ["2028-06-30"] * 6),
                "restrictions": restrictions,
            }
        )
        if rnd.random() < 0.08:
            inactive[cpf] = rnd.sample(
                ["NOT_FOUND", "NO_OPERATOR", "NO_ACCOUNT_ACCESS", "OTHER_FINDING"], rnd.randint(0, 2)
            )
    for rep in rnd.sample(reps, max(1, people // 50)):
        reps.append({**rep, "groups": rnd.sample(names, 1), "restrictions": rnd.choice([[], [{"type": "BLOCKED"}]])})
    rnd.shuffle(reps)
    rule_list = []
    for index in range(rules):
        chosen = [rnd.choice(names + ["GX"]) for _ in range(rnd.randint(1, max_requirements))]
        rule_list.append(
            {
                "rule_id": f"R{index:03d}" if rnd.random() < 0.97 else "R000",
                "max_amount": rnd.choice(
                    [None, None, "250000.00", "249999.99", f"{rnd.randrange(100, 5000) * 1000}.00"]
                ),
                "requirements": [
                    {"group": g, "min_signers": rnd.choice([0, 1, 1, 2, 2, 3, max_signers])} for g in chosen
                ],
            }
        )
    rule_list += [dict(rnd.choice(rule_list)) for _ in range(max(1, rules // 20))]  # duplicated rules
    company = CompanyPowers.model_validate(
        {"cnpj": "11222333000181", "power_code": "ASSINAR_CCB", "representatives": reps, "rules": rule_list}
    )
    return company, inactive, rnd.sample(cpfs, what_if)


def evaluation(name: str) -> PartyEvaluation:
    company, inactive, unavailable = seeded_case(*CASES[name])
    return evaluate_party(company, AMOUNT, ON, inactive=inactive, unavailable=unavailable)


def digest(result: PartyEvaluation) -> str:
    return hashlib.sha256(json.dumps(result.to_dict()).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_answer_is_byte_identical_to_the_pinned_one(name):
    assert digest(evaluation(name)) == EXPECTED[name]


def test_pinned_cases_exercise_every_part_of_the_answer():
    results = [evaluation(name) for name in CASES]
    lint_codes = {finding.code for result in results for finding in result.lint}
    reasons = {reason for result in results for p in result.participants for reason in p.reasons}
    assert any(result.quorum_met for result in results) and not all(result.quorum_met for result in results)
    assert any(s.would_help for result in results for f in result.failed_rules for s in f.shortfalls)
    assert any(len(f.shortfalls) > 1 for result in results for f in result.failed_rules)
    assert any(result.critical_signers for result in results)
    assert any(result.unavailable for result in results)
    assert {f.problem for result in results for f in result.failed_rules} == {"EMPTY_RULE", "NOT_ENOUGH_SIGNERS"}
    assert any(result.skipped_rules for result in results)
    assert {
        "MAX_AMOUNT",
        "BLOCKED",
        "EXPIRED",
        "NOT_YET_VALID",
        "UNKNOWN_RESTRICTION",
        "NOT_FOUND",
        "NO_OPERATOR",
        "NO_ACCOUNT_ACCESS",
        "UNAVAILABLE",
    } <= reasons
    assert any(p.joint_only for result in results for p in result.participants)
    assert {
        "DUPLICATE_REPRESENTATIVE",
        "DUPLICATE_RULE_ID",
        "EMPTY_RULE",
        "NON_POSITIVE_MIN_SIGNERS",
        "REQUIREMENT_EXCEEDS_GROUP",
        "DUPLICATE_RULE",
        "DOMINATED_RULE",
        "GROUP_WITHOUT_REPRESENTATIVES",
    } <= lint_codes
