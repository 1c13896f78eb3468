"""Restrictions (ressalvas) of a representative judged against one order (docs/contracts.md §1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Final, NamedTuple

from chalicelib.domain.partners import Representative, Restriction

MAX_AMOUNT: Final = "MAX_AMOUNT"
BLOCKED: Final = "BLOCKED"
EXPIRED: Final = "EXPIRED"
NOT_YET_VALID: Final = "NOT_YET_VALID"
UNKNOWN_RESTRICTION: Final = "UNKNOWN_RESTRICTION"
JOINT_ONLY: Final = "JOINT_ONLY"

# The stable order in which reasons are reported, whatever order Poderes sent them in.
RESTRICTION_REASONS: Final[tuple[str, ...]] = (MAX_AMOUNT, BLOCKED, EXPIRED, NOT_YET_VALID, UNKNOWN_RESTRICTION)

# Reasons as bits in report order: judging and merging mandates then needs no sorting.
_BIT: Final = {code: 1 << index for index, code in enumerate(RESTRICTION_REASONS)}
REASONS_BY_BITS: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(code for code in RESTRICTION_REASONS if bits & _BIT[code]) for bits in range(1 << len(RESTRICTION_REASONS))
)


class RestrictionAssessment(NamedTuple):
    """Whether a representative may sign this order at all, and why not."""

    restricted: bool
    reasons: list[str]
    joint_only: bool


# One person's mandate judged against an order: (cpf, groups as Poderes sent them, reason bits, joint_only).
# `reason bits` index REASONS_BY_BITS (0: not restricted). A plain tuple: there is one per representative.
Mandate = tuple[str, Sequence[str], int, bool]


def restriction_bits(
    restrictions: Iterable[Restriction],
    valid_from: date | None,
    valid_until: date | None,
    amount: Decimal,
    on: date,
) -> tuple[int, bool]:
    """Business rule: judge one mandate: (reason bits, joint_only).

    MAX_AMOUNT restricts when the order is above the limit, or when the limit is missing (fail closed);
    BLOCKED always restricts; any other type, even a case variant, is UNKNOWN_RESTRICTION (fail closed);
    JOINT_ONLY does not restrict, it only limits. The validity window is inclusive at both ends.
    """
    bits = 0
    joint_only = False
    for restriction in restrictions:
        kind = restriction.type
        if kind == MAX_AMOUNT:
            if restriction.amount is None or amount > restriction.amount:
                bits |= _BIT[MAX_AMOUNT]
        elif kind == BLOCKED:
            bits |= _BIT[BLOCKED]
        elif kind == JOINT_ONLY:
            joint_only = True
        else:
            bits |= _BIT[UNKNOWN_RESTRICTION]
    if valid_until is not None and on > valid_until:
        bits |= _BIT[EXPIRED]
    if valid_from is not None and on < valid_from:
        bits |= _BIT[NOT_YET_VALID]
    return bits, joint_only


def judge_mandates(representatives: Iterable[Representative], amount: Decimal, on: date) -> list[Mandate]:
    """Every representative's mandate judged against the order, in Poderes' order."""
    return [
        (rep.cpf, rep.groups, *restriction_bits(rep.restrictions, rep.valid_from, rep.valid_until, amount, on))
        for rep in representatives
    ]


def fold_repeated_cpfs(mandates: Sequence[Mandate]) -> Sequence[Mandate]:
    """Business rule: a CPF listed more than once is one person, judged on all his entries together.

    It fails closed: restricted when any entry is, with every reason found; JOINT_ONLY when any entry
    is; a member of every group of every entry. The result does not depend on the entries' order.
    """
    if len(set(map(itemgetter(0), mandates))) == len(mandates):
        return mandates  # most companies list each CPF once: nothing to fold
    people: dict[str, Mandate] = {}
    for mandate in mandates:
        cpf = mandate[0]
        earlier = people.get(cpf)
        if earlier is not None:
            mandate = (cpf, [*earlier[1], *mandate[1]], earlier[2] | mandate[2], earlier[3] or mandate[3])
        people[cpf] = mandate
    return list(people.values())


def assess_restrictions(
    representatives: Iterable[Representative], amount: Decimal, on: date
) -> dict[str, RestrictionAssessment]:
    """Assess every representative, keyed by CPF (a repeated CPF once: see fold_repeated_cpfs)."""
    return {
        cpf: RestrictionAssessment(bool(bits), list(REASONS_BY_BITS[bits]), joint_only)
        for cpf, _, bits, joint_only in fold_repeated_cpfs(judge_mandates(representatives, amount, on))
    }
