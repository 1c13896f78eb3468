"""The quorum engine on the cases of contracts §1-§2 and the seed narrative."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from typing import Any

from chalicelib.domain.partners import CompanyPowers
from chalicelib.domain.quorum import evaluate_party, lint_rules
from chalicelib.domain.quorum_matching import _greedy, match_rule

ON = date(2026, 11, 29)
AMOUNT = Decimal("250000.00")

MARIA, JOAO, ANA, PEDRO, LUCAS = "11111111111", "22222222222", "33333333333", "44444444444", "55555555555"

# The seed narrative: A alone up to R$ 1 million, or A together with B.
R1 = {
    "rule_id": "R1",
    "description": "Um do grupo A sozinho até R$ 1 milhão",
    "max_amount": "1000000.00",
    "requirements": [{"group": "A", "min_signers": 1}],
}
R2 = {
    "rule_id": "R2",
    "description": "Um do grupo A com um do grupo B",
    "max_amount": None,
    "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
}


def person(cpf: str, *groups: str, restrictions: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {"cpf": cpf, "groups": list(groups), "restrictions": restrictions or [], **fields}


def rule(rule_id: str, *requirements: tuple[str, int], max_amount: str | None = None) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "max_amount": max_amount,
        "requirements": [{"group": g, "min_signers": n} for g, n in requirements],
    }


def powers(representatives: list[dict[str, Any]], rules: list[dict[str, Any]]) -> CompanyPowers:
    return CompanyPowers.model_validate(
        {"cnpj": "11222333000181", "power_code": "ASSINAR_CCB", "representatives": representatives, "rules": rules}
    )


BLOCKED = [{"type": "BLOCKED", "reason": "Mandato suspenso"}]
JOINT = [{"type": "JOINT_ONLY"}]


# --- party reasons (contracts §2) -------------------------------------------------------------


def test_company_without_powers_has_no_representatives():
    result = evaluate_party(None, AMOUNT, ON)
    assert (result.quorum_met, result.reason, result.participants) == (False, "NO_REPRESENTATIVES", ())


def test_company_with_rules_but_nobody_has_no_representatives_and_says_what_is_missing():
    result = evaluate_party(powers([], [R2]), AMOUNT, ON)
    assert result.reason == "NO_REPRESENTATIVES"
    [failed] = result.failed_rules
    assert [(s.requirements, s.short) for s in failed.shortfalls] == [((("A", 1),), 1), ((("B", 1),), 1)]


def test_every_representative_restricted_is_all_restricted():
    company = powers([person(MARIA, "A", restrictions=BLOCKED), person(JOAO, "B", valid_until="2020-01-01")], [R2])
    result = evaluate_party(company, AMOUNT, ON)
    assert (result.quorum_met, result.reason) == (False, "ALL_RESTRICTED")
    assert [p.reasons for p in result.participants] == [("BLOCKED",), ("EXPIRED",)]


def test_joint_only_people_are_not_restricted_so_the_party_is_not_all_restricted():
    company = powers([person(MARIA, "A", restrictions=JOINT), person(JOAO, "B", restrictions=BLOCKED)], [R1])
    assert evaluate_party(company, AMOUNT, ON).reason == "NO_RULE_SATISFIED"


def test_nobody_with_an_active_operator_is_no_active_operator():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "B", restrictions=BLOCKED)], [R2])
    result = evaluate_party(company, AMOUNT, ON, inactive={MARIA: ["NO_OPERATOR"], JOAO: ["NOT_FOUND"]})
    assert (result.quorum_met, result.reason) == (False, "NO_ACTIVE_OPERATOR")


def test_no_account_access_counts_as_no_active_operator():
    company = powers([person(MARIA, "A"), person(JOAO, "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON, inactive={MARIA: ["NO_ACCOUNT_ACCESS"], JOAO: ["NOT_FOUND"]})
    assert result.reason == "NO_ACTIVE_OPERATOR"


def test_everyone_unknown_to_pessoas_is_person_not_found():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "B", restrictions=BLOCKED)], [R2])
    result = evaluate_party(company, AMOUNT, ON, inactive={MARIA: ["NOT_FOUND"], JOAO: ["NOT_FOUND"]})
    assert result.reason == "PERSON_NOT_FOUND"


def test_participant_reasons_merge_restrictions_and_what_cadastro_unico_found():
    company = powers([person(MARIA, "A"), person(JOAO, "A", "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON, inactive={MARIA: ["NO_ACCOUNT_ACCESS", "NO_OPERATOR"]})
    maria = result.participants[0]
    assert (maria.cpf, maria.restricted, maria.active, maria.reasons) == (
        MARIA,
        False,
        False,
        ("NO_OPERATOR", "NO_ACCOUNT_ACCESS"),
    )


def test_an_empty_list_of_findings_means_the_person_is_active():
    company = powers([person(MARIA, "A")], [R1])
    result = evaluate_party(company, AMOUNT, ON, inactive={MARIA: []})
    assert result.quorum_met and result.participants[0].active


# --- the seed narrative --------------------------------------------------------------------------


def test_one_person_left_whom_no_rule_lets_sign_alone_has_no_quorum():
    # R$ 2 million: R1 (A alone up to R$ 1 million) no longer applies; Joao in B is over his limit.
    company = powers(
        [person(MARIA, "A"), person(JOAO, "B", restrictions=[{"type": "MAX_AMOUNT", "amount": "1500000.00"}])], [R1, R2]
    )
    result = evaluate_party(company, Decimal("2000000.00"), ON)
    assert (result.quorum_met, result.reason) == (False, "NO_RULE_SATISFIED")
    assert [(s.rule_id, s.max_amount) for s in result.skipped_rules] == [("R1", Decimal("1000000.00"))]
    [failed] = result.failed_rules
    [shortfall] = failed.shortfalls
    assert (failed.rule_id, shortfall.requirements, shortfall.short) == ("R2", (("B", 1),), 1)
    assert [(p.cpf, p.reasons) for p in shortfall.would_help] == [(JOAO, ("MAX_AMOUNT",))]
    assert result.signers_to_notify == ()


def test_two_people_left_who_fill_a_and_b_have_quorum():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "A", restrictions=BLOCKED)], [R1, R2])
    result = evaluate_party(company, Decimal("2000000.00"), ON)
    assert (result.quorum_met, result.reason) == (True, None)
    assert result.satisfied_rules == ("R2",)
    assert [(s.rule_id, s.cpfs) for s in result.signer_sets] == [("R2", (MARIA, JOAO))]
    assert result.signers_to_notify == (MARIA, JOAO)
    assert result.critical_signers == (MARIA, JOAO)


def test_person_in_two_groups_fills_only_one_slot():
    company = powers([person(MARIA, "A", "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON)
    assert not result.quorum_met
    [shortfall] = result.failed_rules[0].shortfalls
    # A and B compete for Maria: together they need 2 people and have 1.
    assert (shortfall.requirements, shortfall.needed, shortfall.available, shortfall.short) == (
        (("A", 1), ("B", 1)),
        2,
        (MARIA,),
        1,
    )


def test_first_fit_can_miss_a_matching_that_the_engine_finds():
    # The first-fit trap: a->G4, c->G3, d->G1, b,e->G2; first-fit gives a to G1 and is stuck.
    eligible = {"G1": ("a", "b", "d"), "G2": ("a", "b", "c", "e"), "G3": ("c",), "G4": ("a",)}
    requirements = [("G1", 1), ("G2", 2), ("G3", 1), ("G4", 1)]
    assert _greedy(requirements, eligible, ()) is None
    match = match_rule(requirements, eligible)
    assert match.satisfied
    assert dict(zip(["G1", "G2", "G3", "G4"], match.picks)) == {
        "G1": ("d",),
        "G2": ("b", "e"),
        "G3": ("c",),
        "G4": ("a",),
    }


def test_issue_example_as_a_company_is_met_by_all_five():
    company = powers(
        [
            person("a", "G1", "G2", "G4"),
            person("b", "G1", "G2"),
            person("c", "G2", "G3"),
            person("d", "G1"),
            person("e", "G2"),
        ],
        [rule("R", ("G1", 1), ("G2", 2), ("G3", 1), ("G4", 1))],
    )
    result = evaluate_party(company, AMOUNT, ON)
    assert result.quorum_met and result.signer_sets[0].cpfs == ("a", "b", "c", "d", "e")


def test_joint_only_person_cannot_sign_alone():
    company = powers([person(MARIA, "A", restrictions=JOINT)], [R1])
    result = evaluate_party(company, AMOUNT, ON)
    assert (result.quorum_met, result.reason) == (False, "NO_RULE_SATISFIED")
    [shortfall] = result.failed_rules[0].shortfalls
    assert [(p.cpf, p.reasons) for p in shortfall.would_help] == [(MARIA, ("JOINT_ONLY",))]


def test_joint_only_person_signs_together_with_someone_else():
    company = powers([person(MARIA, "A", restrictions=JOINT), person(JOAO, "B")], [R1, R2])
    result = evaluate_party(company, AMOUNT, ON)
    assert result.satisfied_rules == ("R2",)
    assert result.signer_sets[0].cpfs == (MARIA, JOAO)
    assert result.participants[0].joint_only and not result.participants[0].restricted


def test_joint_only_counts_signers_of_the_whole_rule_not_of_the_requirement():
    company = powers([person(MARIA, "A", restrictions=JOINT), person(JOAO, "A")], [rule("R3", ("A", 2))])
    assert evaluate_party(company, AMOUNT, ON).signer_sets[0].cpfs == (MARIA, JOAO)


def test_rule_applies_when_the_amount_is_exactly_its_limit():
    company = powers([person(MARIA, "A")], [R1])
    at_limit = evaluate_party(company, Decimal("1000000.00"), ON)
    above = evaluate_party(company, Decimal("1000000.01"), ON)
    assert at_limit.quorum_met and at_limit.skipped_rules == ()
    assert not above.quorum_met and [s.rule_id for s in above.skipped_rules] == ["R1"]


def test_representative_limit_exactly_at_the_amount_still_signs():
    company = powers([person(MARIA, "A", restrictions=[{"type": "MAX_AMOUNT", "amount": "250000.00"}])], [R1])
    assert evaluate_party(company, Decimal("250000.00"), ON).quorum_met
    assert evaluate_party(company, Decimal("250000.01"), ON).reason == "ALL_RESTRICTED"


def test_expired_mandate_is_excluded_on_the_day_after_its_end():
    company = powers([person(MARIA, "A", valid_until="2026-11-28")], [R1])
    assert evaluate_party(company, AMOUNT, date(2026, 11, 28)).quorum_met
    assert evaluate_party(company, AMOUNT, ON).participants[0].reasons == ("EXPIRED",)


# --- explanations ------------------------------------------------------------------------------


def test_competing_requirements_are_reported_together_with_how_many_are_missing():
    company = powers(
        [person(MARIA, "A", "B"), person(JOAO, "A", "B"), person(ANA, "A", restrictions=BLOCKED)],
        [rule("R", ("A", 2), ("B", 1))],
    )
    [failed] = evaluate_party(company, AMOUNT, ON).failed_rules
    assert (failed.required, failed.fillable) == (3, 2)
    [shortfall] = failed.shortfalls
    assert (shortfall.requirements, shortfall.available, shortfall.short) == ((("A", 2), ("B", 1)), (MARIA, JOAO), 1)
    assert [(p.cpf, p.reasons) for p in shortfall.would_help] == [(ANA, ("BLOCKED",))]


def test_satisfied_rule_lists_who_may_fill_each_requirement():
    company = powers([person(MARIA, "A"), person(JOAO, "A", "B"), person(ANA, "B", restrictions=BLOCKED)], [R2])
    result = evaluate_party(company, AMOUNT, ON)
    [eligibility] = result.eligible_by_requirement
    assert [(r.group, r.min_signers, r.cpfs) for r in eligibility.requirements] == [
        ("A", 1, (MARIA, JOAO)),
        ("B", 1, (JOAO,)),
    ]
    assert result.signer_sets[0].cpfs == (MARIA, JOAO)


def test_people_only_in_groups_of_failed_rules_are_not_notified():
    company = powers(
        [person(MARIA, "A"), person(JOAO, "C"), person(ANA, "A", restrictions=BLOCKED)],
        [R1, rule("R9", ("C", 1), ("D", 1))],
    )
    result = evaluate_party(company, AMOUNT, ON)
    assert result.satisfied_rules == ("R1",) and result.signers_to_notify == (MARIA,)


def test_no_one_is_critical_when_two_rules_use_different_people():
    company = powers([person(MARIA, "A"), person(JOAO, "B")], [rule("RA", ("A", 1)), rule("RB", ("B", 1))])
    result = evaluate_party(company, AMOUNT, ON)
    assert result.quorum_met and result.critical_signers == ()


def test_the_only_person_of_a_group_every_rule_needs_is_critical():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "B")], [R2, rule("R5", ("A", 1), ("B", 2))])
    assert evaluate_party(company, AMOUNT, ON).critical_signers == (MARIA,)


def test_what_if_a_critical_signer_is_unavailable_there_is_no_quorum():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON, unavailable={MARIA})
    assert (result.quorum_met, result.reason) == (False, "NO_RULE_SATISFIED")
    assert result.participants[0].reasons == ("UNAVAILABLE",)
    assert [(p.cpf, p.reasons) for p in result.failed_rules[0].shortfalls[0].would_help] == [(MARIA, ("UNAVAILABLE",))]
    assert result.unavailable == (MARIA,)


def test_what_if_a_replaceable_signer_is_unavailable_quorum_holds_with_someone_else():
    company = powers([person(MARIA, "A"), person(JOAO, "B"), person(ANA, "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON, unavailable={JOAO})
    assert result.signer_sets[0].cpfs == (MARIA, ANA)
    assert all("UNAVAILABLE" not in p.reasons for p in evaluate_party(company, AMOUNT, ON).participants)


def test_rule_asking_for_nobody_fails_closed_and_is_linted():
    company = powers([person(MARIA, "A")], [rule("R0", ("A", 0))])
    result = evaluate_party(company, AMOUNT, ON)
    assert not result.quorum_met and result.failed_rules[0].problem == "EMPTY_RULE"
    assert {f.code for f in result.lint} == {"EMPTY_RULE", "NON_POSITIVE_MIN_SIGNERS"}


# --- lint --------------------------------------------------------------------------------------


def test_lint_reports_a_requirement_larger_than_its_group_and_a_group_without_people():
    company = powers(
        [person(MARIA, "A"), person(JOAO, "A")],
        [rule("R", ("A", 3)), rule("S", ("A", 1), ("Z", 1)), rule("T", ("Z", 2))],
    )
    found = [(f.code, f.rule_ids, f.group) for f in lint_rules(company)]
    assert found == [
        ("REQUIREMENT_EXCEEDS_GROUP", ("R",), "A"),
        ("GROUP_WITHOUT_REPRESENTATIVES", ("S", "T"), "Z"),
    ]


def test_lint_reports_duplicated_and_dominated_rules():
    company = powers(
        [person(MARIA, "A", "B"), person(JOAO, "B", "C")],
        [
            rule("R1", ("A", 1), ("B", 1)),
            rule("R2", ("C", 1), ("B", 1), ("A", 1)),
            rule("R3", ("B", 1), ("A", 1)),
            rule("R4", ("A", 1), ("B", 1), max_amount="10.00"),
        ],
    )
    found = [(f.code, f.rule_ids) for f in lint_rules(company)]
    assert found == [
        ("DOMINATED_RULE", ("R2", "R1", "R3")),
        ("DUPLICATE_RULE", ("R3", "R1")),
        ("DOMINATED_RULE", ("R4", "R1", "R3")),
    ]


def test_a_single_signer_rule_does_not_dominate_one_a_joint_only_person_may_sign():
    company = powers([person(MARIA, "A"), person(JOAO, "A")], [rule("R1", ("A", 1)), rule("R2", ("A", 2))])
    assert lint_rules(company) == []


def test_repeated_rule_ids_and_representatives_are_linted():
    company = powers([person(MARIA, "A"), person(MARIA, "B")], [rule("R", ("A", 1)), rule("R", ("B", 1))])
    found = [(f.code, f.rule_ids, f.cpf) for f in lint_rules(company)]
    assert found == [("DUPLICATE_REPRESENTATIVE", (), MARIA), ("DUPLICATE_RULE_ID", ("R",), None)]


def test_lint_findings_never_stop_the_evaluation():
    company = powers([person(MARIA, "A")], [R1, rule("R2", ("A", 5)), rule("R3", ("Q", 1))])
    result = evaluate_party(company, AMOUNT, ON)
    assert result.quorum_met and {f.code for f in result.lint} == {
        "REQUIREMENT_EXCEEDS_GROUP",
        "GROUP_WITHOUT_REPRESENTATIVES",
    }


def test_repeated_cpf_is_one_person_in_all_his_groups_and_fails_closed():
    company = powers([person(MARIA, "A"), person(MARIA, "B", restrictions=BLOCKED), person(JOAO, "B")], [R2])
    result = evaluate_party(company, AMOUNT, ON)
    assert [(p.cpf, p.groups, p.reasons) for p in result.participants] == [
        (MARIA, ("A", "B"), ("BLOCKED",)),
        (JOAO, ("B",), ()),
    ]
    assert not result.quorum_met


# --- output ------------------------------------------------------------------------------------


def _mixed_company() -> tuple[CompanyPowers, dict[str, list[str]]]:
    rnd = random.Random(7)
    reps = [
        person(
            f"{i:011d}",
            *rnd.sample("ABCD", rnd.randint(1, 2)),
            restrictions=rnd.choice([[], [], BLOCKED, JOINT, [{"type": "MAX_AMOUNT", "amount": "100.00"}]]),
        )
        for i in range(1, 13)
    ]
    rules = [R1, R2, rule("R3", ("C", 2), ("D", 1)), rule("R4", ("D", 3)), rule("R5", ("A", 1), max_amount="1.00")]
    return powers(reps, rules), {f"{3:011d}": ["NO_OPERATOR"], f"{5:011d}": ["NOT_FOUND"]}


def test_same_input_gives_the_same_output_even_with_representatives_shuffled():
    company, inactive = _mixed_company()
    first = evaluate_party(company, AMOUNT, ON, inactive=inactive).to_dict()
    again = evaluate_party(company, AMOUNT, ON, inactive=inactive).to_dict()
    reps = list(company.representatives)
    random.Random(1).shuffle(reps)
    shuffled = company.model_copy(update={"representatives": reps})
    assert first == again == evaluate_party(shuffled, AMOUNT, ON, inactive=dict(reversed(inactive.items()))).to_dict()
    assert json.dumps(first) == json.dumps(again)


def test_to_dict_is_json_ready_with_money_as_strings():
    company, inactive = _mixed_company()
    data = evaluate_party(company, Decimal("250000"), ON, inactive=inactive).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["amount"] == "250000.00" and data["skipped_rules"] == [{"rule_id": "R5", "max_amount": "1.00"}]
    assert {
        "quorum_met",
        "reason",
        "participants",
        "satisfied_rules",
        "signer_sets",
        "eligible_by_requirement",
        "failed_rules",
        "skipped_rules",
        "critical_signers",
        "lint",
    } <= set(data)
    assert set(data["participants"][0]) == {"cpf", "groups", "restricted", "active", "reasons", "joint_only"}
    assert [p["cpf"] for p in data["participants"]] == sorted(p["cpf"] for p in data["participants"])


def test_without_lint_the_evaluation_is_the_same_but_for_the_lint_report():
    company = powers(
        [person(MARIA, "A"), person(JOAO, "B"), person(ANA, "A", "B")],
        [R1, R2, rule("R3", ("A", 1), ("B", 1)), rule("R4", ("Z", 1))],
    )
    full = evaluate_party(company, AMOUNT, ON).to_dict()
    lean = evaluate_party(company, AMOUNT, ON, include_lint=False).to_dict()
    assert full["lint"] and lean["lint"] == []
    assert {k: v for k, v in full.items() if k != "lint"} == {k: v for k, v in lean.items() if k != "lint"}
