"""The quorum engine against a brute-force oracle that tries every subset of people (hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from itertools import combinations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.partners import CompanyPowers
from chalicelib.domain.quorum import PartyEvaluation, evaluate_party
from chalicelib.domain.quorum_matching import _greedy, first_fit

ON = date(2026, 11, 29)
AMOUNT = Decimal("250000.00")
GROUPS = "ABCD"

# Each restriction kind with what the oracle expects of it: (Poderes entry or window, reason or None).
RESTRICTIONS: dict[str, tuple[dict[str, Any], str | None]] = {
    "blocked": ({"restrictions": [{"type": "BLOCKED"}]}, "BLOCKED"),
    "max_low": ({"restrictions": [{"type": "MAX_AMOUNT", "amount": "100.00"}]}, "MAX_AMOUNT"),
    "max_equal": ({"restrictions": [{"type": "MAX_AMOUNT", "amount": "250000.00"}]}, None),
    "unknown": ({"restrictions": [{"type": "OTHER"}]}, "UNKNOWN_RESTRICTION"),
    "expired": ({"valid_until": "2026-11-28"}, "EXPIRED"),
    "future": ({"valid_from": "2026-11-30"}, "NOT_YET_VALID"),
}


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    people = []
    for index in range(draw(st.integers(0, 8))):
        people.append(
            {
                "cpf": f"{index + 1:011d}",
                "groups": sorted(draw(st.sets(st.sampled_from(GROUPS), min_size=1, max_size=3))),
                "kind": draw(st.sampled_from([None, None, None, None, *RESTRICTIONS])),
                "joint": draw(st.booleans()) and draw(st.booleans()),
                "inactive": draw(
                    st.sampled_from([(), (), (), ("NOT_FOUND",), ("NO_OPERATOR",), ("NO_ACCOUNT_ACCESS",)])
                ),
                "unavailable": draw(st.integers(0, 9)) == 0,
            }
        )
    rules = []
    for index in range(draw(st.integers(0, 4))):
        requirements = draw(
            st.lists(st.tuples(st.sampled_from(GROUPS), st.sampled_from([0, 1, 1, 1, 2, 2, 3])), min_size=1, max_size=3)
        )
        max_amount = draw(st.sampled_from([None, None, "100.00", "250000.00"]))
        rules.append({"rule_id": f"R{index + 1}", "max_amount": max_amount, "requirements": requirements})
    order = draw(st.permutations(range(len(people))))
    return {"people": people, "rules": rules, "order": order}


def build(case: dict[str, Any], order: Any = None) -> CompanyPowers:
    people = case["people"] if order is None else [case["people"][i] for i in order]
    reps = []
    for p in people:
        entry: dict[str, Any] = {"cpf": p["cpf"], "groups": p["groups"], "restrictions": []}
        if p["kind"]:
            entry.update({k: list(v) if isinstance(v, list) else v for k, v in RESTRICTIONS[p["kind"]][0].items()})
        if p["joint"]:
            entry["restrictions"] = [*entry["restrictions"], {"type": "JOINT_ONLY"}]
        reps.append(entry)
    rules = [
        {
            "rule_id": r["rule_id"],
            "max_amount": r["max_amount"],
            "requirements": [{"group": g, "min_signers": n} for g, n in r["requirements"]],
        }
        for r in case["rules"]
    ]
    return CompanyPowers.model_validate(
        {"cnpj": "11222333000181", "power_code": "ASSINAR_CCB", "representatives": reps, "rules": rules}
    )


def evaluate(case: dict[str, Any], order: Any = None) -> PartyEvaluation:
    inactive = {p["cpf"]: list(p["inactive"]) for p in case["people"] if p["inactive"]}
    unavailable = {p["cpf"] for p in case["people"] if p["unavailable"]}
    return evaluate_party(build(case, order), AMOUNT, ON, inactive=inactive, unavailable=unavailable)


# --- the oracle: nothing clever, every subset and every assignment -----------------------------


def restricted(p: dict[str, Any]) -> bool:
    return p["kind"] is not None and RESTRICTIONS[p["kind"]][1] is not None


def can_sign(p: dict[str, Any]) -> bool:
    return not restricted(p) and not p["inactive"] and not p["unavailable"]


def total(rule: dict[str, Any]) -> int:
    return sum(n for _, n in rule["requirements"] if n > 0)


def eligible_for(p: dict[str, Any], rule: dict[str, Any]) -> bool:
    return can_sign(p) and (not p["joint"] or total(rule) >= 2)


def slots(rule: dict[str, Any]) -> tuple[str, ...]:
    return tuple(g for g, n in rule["requirements"] for _ in range(max(n, 0)))


def max_filled(rule_slots: tuple[str, ...], pool: tuple[tuple[str, frozenset[str]], ...]) -> int:
    """Most slots that distinct people of `pool` can fill, trying every assignment."""

    @cache
    def best(slot: int, used: frozenset[str]) -> int:
        if slot == len(rule_slots):
            return 0
        options = [best(slot + 1, used)]
        for cpf, groups in pool:
            if cpf not in used and rule_slots[slot] in groups:
                options.append(1 + best(slot + 1, used | {cpf}))
        return max(options)

    return best(0, frozenset())


def fills(rule_slots: tuple[str, ...], pool: tuple[tuple[str, frozenset[str]], ...]) -> bool:
    return bool(rule_slots) and max_filled(rule_slots, pool) == len(rule_slots)


def pool_of(people: list[dict[str, Any]]) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((p["cpf"], frozenset(p["groups"])) for p in people)


def applies(rule: dict[str, Any]) -> bool:
    return rule["max_amount"] is None or Decimal(rule["max_amount"]) >= AMOUNT


def minimal_sets(rule: dict[str, Any], people: list[dict[str, Any]]) -> list[frozenset[str]]:
    """Every subset of the rule's eligible people that satisfies it and has no satisfying proper subset."""
    candidates = [p for p in people if eligible_for(p, rule)]
    found: list[frozenset[str]] = []
    for size in range(1, len(candidates) + 1):
        for subset in combinations(candidates, size):
            cpfs = frozenset(p["cpf"] for p in subset)
            if not any(smaller < cpfs for smaller in found) and fills(slots(rule), pool_of(list(subset))):
                found.append(cpfs)
    return found


def oracle_satisfied(rule: dict[str, Any], people: list[dict[str, Any]]) -> bool:
    return bool(minimal_sets(rule, people))


def oracle_reason(case: dict[str, Any], met: bool) -> str | None:
    people = case["people"]
    unrestricted = [p for p in people if not restricted(p)]
    if met:
        return None
    if not people:
        return "NO_REPRESENTATIVES"
    if not unrestricted:
        return "ALL_RESTRICTED"
    if all(p["inactive"] for p in unrestricted):
        return (
            "PERSON_NOT_FOUND" if all(p["inactive"] == ("NOT_FOUND",) for p in unrestricted) else "NO_ACTIVE_OPERATOR"
        )
    return "NO_RULE_SATISFIED"


# --- properties --------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(cases())
def test_satisfied_rules_and_party_reason_match_the_oracle(case):
    result = evaluate(case)
    applicable = [r for r in case["rules"] if applies(r)]
    expected = tuple(r["rule_id"] for r in applicable if oracle_satisfied(r, case["people"]))
    assert result.satisfied_rules == expected
    assert tuple(s.rule_id for s in result.skipped_rules) == tuple(
        r["rule_id"] for r in case["rules"] if not applies(r)
    )
    assert result.quorum_met == bool(expected)
    assert result.reason == oracle_reason(case, bool(expected))


@PROPERTY_SETTINGS
@given(cases())
def test_signer_sets_are_valid_and_minimal(case):
    result = evaluate(case)
    by_id = {r["rule_id"]: r for r in case["rules"]}
    people = {p["cpf"]: p for p in case["people"]}
    for signer_set in result.signer_sets:
        rule = by_id[signer_set.rule_id]
        chosen = [people[cpf] for cpf in signer_set.cpfs]
        assert list(signer_set.cpfs) == sorted(set(signer_set.cpfs))
        assert all(eligible_for(p, rule) for p in chosen)
        assert len(chosen) == total(rule)
        assert fills(slots(rule), pool_of(chosen))
        for size in range(len(chosen)):
            assert not any(fills(slots(rule), pool_of(list(sub))) for sub in combinations(chosen, size))


@PROPERTY_SETTINGS
@given(cases())
def test_every_missing_explanation_is_consistent_with_the_oracle(case):
    result = evaluate(case)
    by_id = {r["rule_id"]: r for r in case["rules"]}
    for failed in result.failed_rules:
        rule = by_id[failed.rule_id]
        assert applies(rule) and not oracle_satisfied(rule, case["people"])
        if total(rule) == 0:
            assert (failed.problem, failed.shortfalls) == ("EMPTY_RULE", ())
            continue
        eligible = [p for p in case["people"] if eligible_for(p, rule)]
        filled = max_filled(slots(rule), pool_of(eligible))
        assert (failed.required, failed.fillable) == (total(rule), filled)
        assert sum(s.short for s in failed.shortfalls) == total(rule) - filled
        used_groups: set[str] = set()
        used_helpers: set[str] = set()
        for shortfall in failed.shortfalls:
            groups = {g for g, _ in shortfall.requirements}
            helper_cpfs = {h.cpf for h in shortfall.would_help}
            assert not groups & used_groups and not helper_cpfs & used_helpers
            used_groups |= groups
            used_helpers |= helper_cpfs
            assert set(shortfall.requirements) <= set(rule["requirements"])
            assert shortfall.needed == sum(n for _, n in shortfall.requirements)
            in_groups = [p for p in case["people"] if groups & set(p["groups"])]
            assert shortfall.available == tuple(sorted(p["cpf"] for p in in_groups if eligible_for(p, rule)))
            assert shortfall.short > 0
            helpers = [p for p in in_groups if not eligible_for(p, rule)]
            assert [h.cpf for h in shortfall.would_help] == sorted(p["cpf"] for p in helpers)
            for helper in helpers:
                # Each person said to help would, once able to sign, fill exactly one more slot.
                assert max_filled(slots(rule), pool_of([*eligible, helper])) == filled + 1


@PROPERTY_SETTINGS
@given(cases())
def test_critical_signers_eligibility_and_notification_match_the_oracle(case):
    result = evaluate(case)
    people = case["people"]
    satisfied = [r for r in case["rules"] if r["rule_id"] in result.satisfied_rules]
    if satisfied:
        applicable = [r for r in case["rules"] if applies(r)]
        critical = sorted(
            p["cpf"]
            for p in people
            if not any(oracle_satisfied(r, [q for q in people if q is not p]) for r in applicable)
        )
    else:
        critical = []
    assert list(result.critical_signers) == critical
    # Everyone notified belongs to some minimal signer set of a satisfied rule, and vice versa.
    in_some_set = set().union(*(s for r in satisfied for s in minimal_sets(r, people)))
    assert set(result.signers_to_notify) == in_some_set
    for eligibility in result.eligible_by_requirement:
        rule = next(r for r in satisfied if r["rule_id"] == eligibility.rule_id)
        for (group, needed), requirement in zip(rule["requirements"], eligibility.requirements):
            assert (requirement.group, requirement.min_signers) == (group, needed)
            assert requirement.cpfs == tuple(
                sorted(p["cpf"] for p in people if group in p["groups"] and eligible_for(p, rule))
            )


@PROPERTY_SETTINGS
@given(cases())
def test_participants_match_the_oracle_and_output_ignores_representative_order(case):
    result = evaluate(case)
    expected = sorted((p["cpf"], tuple(p["groups"]), restricted(p), can_sign(p), p["joint"]) for p in case["people"])
    assert [(p.cpf, p.groups, p.restricted, p.active, p.joint_only) for p in result.participants] == expected
    assert evaluate(case, case["order"]).to_dict() == result.to_dict()


@PROPERTY_SETTINGS
@given(cases())
def test_a_rule_linted_as_dominated_or_duplicated_is_never_needed(case):
    result = evaluate(case)
    by_id = {r["rule_id"]: r for r in case["rules"]}
    if len(by_id) != len(case["rules"]):
        return
    amounts = [Decimal("0.01"), Decimal("100.00"), Decimal("250000.00"), Decimal("1000000.00")]
    for finding in result.lint:
        if finding.code not in ("DOMINATED_RULE", "DUPLICATE_RULE"):
            continue
        redundant, *others = (by_id[rule_id] for rule_id in finding.rule_ids)
        for other in others:
            for amount in amounts:
                ceiling = redundant["max_amount"]
                if ceiling is None or amount <= Decimal(ceiling):
                    assert other["max_amount"] is None or amount <= Decimal(other["max_amount"])
            # Whoever could sign the redundant rule (any people, any JOINT_ONLY flags) also signs the other.
            everyone = [{**p, "kind": None, "inactive": (), "unavailable": False} for p in case["people"]]
            for size in range(1, len(everyone) + 1):
                for subset in combinations(everyone, size):
                    if oracle_satisfied(redundant, list(subset)):
                        assert oracle_satisfied(other, list(subset))


@st.composite
def requirement_lists(draw: st.DrawFn) -> tuple[list[tuple[str, int]], dict[str, tuple[str, ...]]]:
    people = "abcdef"
    eligible = {g: tuple(sorted(draw(st.sets(st.sampled_from(people), max_size=5)))) for g in GROUPS[:3]}
    requirements = draw(st.lists(st.tuples(st.sampled_from(GROUPS), st.integers(-1, 3)), max_size=4))
    return requirements, eligible


@PROPERTY_SETTINGS
@given(requirement_lists())
def test_the_evaluations_first_fit_picks_exactly_what_first_fit_picks(drawn):
    requirements, eligible = drawn
    greedy = _greedy(requirements, eligible, ())
    assert first_fit(requirements, eligible) == (None if greedy is None else greedy.signers)
