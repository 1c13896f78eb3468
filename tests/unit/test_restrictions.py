"""Restrictions (ressalvas) judged against an order: contracts §1."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from chalicelib.domain.partners import Representative
from chalicelib.domain.restrictions import assess_restrictions

ON = date(2026, 11, 29)
AMOUNT = Decimal("250000.00")


def rep(cpf: str = "52998224725", restrictions: list | None = None, **fields) -> Representative:
    return Representative.model_validate({"cpf": cpf, "groups": ["A"], "restrictions": restrictions or [], **fields})


def assess_one(representative: Representative, amount: Decimal = AMOUNT, on: date = ON):
    return assess_restrictions([representative], amount, on)[representative.cpf]


def test_representative_without_restrictions_may_sign():
    result = assess_one(rep())
    assert (result.restricted, result.reasons, result.joint_only) == (False, [], False)


def test_max_amount_below_the_order_restricts():
    result = assess_one(rep(restrictions=[{"type": "MAX_AMOUNT", "amount": "249999.99"}]))
    assert result.restricted and result.reasons == ["MAX_AMOUNT"]


def test_max_amount_exactly_at_the_order_amount_does_not_restrict():
    result = assess_one(rep(restrictions=[{"type": "MAX_AMOUNT", "amount": "250000.00"}]))
    assert not result.restricted and result.reasons == []


def test_max_amount_without_a_stated_limit_fails_closed():
    result = assess_one(rep(restrictions=[{"type": "MAX_AMOUNT"}]))
    assert result.restricted and result.reasons == ["MAX_AMOUNT"]


def test_blocked_always_restricts():
    result = assess_one(rep(restrictions=[{"type": "BLOCKED", "reason": "Mandato suspenso"}]), amount=Decimal("1.00"))
    assert result.restricted and result.reasons == ["BLOCKED"]


def test_joint_only_is_a_limit_not_a_restriction():
    result = assess_one(rep(restrictions=[{"type": "JOINT_ONLY"}]))
    assert (result.restricted, result.reasons, result.joint_only) == (False, [], True)


def test_mandate_is_valid_on_its_first_and_last_day():
    first_day = assess_one(rep(valid_from=ON.isoformat()))
    last_day = assess_one(rep(valid_until=ON.isoformat()))
    assert not first_day.restricted and not last_day.restricted


def test_mandate_after_its_last_day_is_expired():
    result = assess_one(rep(valid_from="2020-01-01", valid_until="2026-11-28"))
    assert result.restricted and result.reasons == ["EXPIRED"]


def test_mandate_before_its_first_day_is_not_yet_valid():
    result = assess_one(rep(valid_from="2026-11-30"))
    assert result.restricted and result.reasons == ["NOT_YET_VALID"]


def test_unknown_restriction_type_fails_closed():
    result = assess_one(rep(restrictions=[{"type": "PROCURACAO_ESPECIAL", "anything": 1}]))
    assert result.restricted and result.reasons == ["UNKNOWN_RESTRICTION"]


def test_restriction_type_is_matched_exactly_so_a_case_variant_is_unknown():
    result = assess_one(rep(restrictions=[{"type": "blocked"}]))
    assert result.reasons == ["UNKNOWN_RESTRICTION"]


def test_every_applicable_reason_is_reported_in_a_stable_order():
    restrictions = [
        {"type": "XPTO"},
        {"type": "BLOCKED"},
        {"type": "JOINT_ONLY"},
        {"type": "MAX_AMOUNT", "amount": "10.00"},
        {"type": "BLOCKED"},
    ]
    forward = assess_one(rep(restrictions=restrictions, valid_until="2025-01-01"))
    backward = assess_one(rep(restrictions=list(reversed(restrictions)), valid_until="2025-01-01"))
    assert forward.reasons == ["MAX_AMOUNT", "BLOCKED", "EXPIRED", "UNKNOWN_RESTRICTION"]
    assert backward == forward
    assert forward.joint_only and forward.restricted


def test_assessments_are_keyed_by_cpf():
    result = assess_restrictions(
        [rep("11144477735"), rep("52998224725", restrictions=[{"type": "BLOCKED"}])], AMOUNT, ON
    )
    assert set(result) == {"11144477735", "52998224725"}
    assert not result["11144477735"].restricted and result["52998224725"].restricted


def test_repeated_cpf_is_restricted_when_any_of_its_entries_is():
    result = assess_restrictions(
        [rep("52998224725"), rep("52998224725", restrictions=[{"type": "BLOCKED"}, {"type": "JOINT_ONLY"}])],
        AMOUNT,
        ON,
    )
    assert result["52998224725"].restricted and result["52998224725"].reasons == ["BLOCKED"]
    assert result["52998224725"].joint_only


def test_each_assessment_owns_its_reasons_list():
    result = assess_restrictions([rep("11144477735"), rep("52998224725")], AMOUNT, ON)
    result["11144477735"].reasons.append("MUTATED")
    assert result["52998224725"].reasons == []
