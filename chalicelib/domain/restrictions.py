"""Restrictions (ressalvas) of a representative judged against one order (contracts §1)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from operator import attrgetter
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
_MAX_AMOUNT_BIT: Final = _BIT[MAX_AMOUNT]
_BLOCKED_BIT: Final = _BIT[BLOCKED]
_EXPIRED_BIT: Final = _BIT[EXPIRED]
_NOT_YET_VALID_BIT: Final = _BIT[NOT_YET_VALID]
_UNKNOWN_BIT: Final = _BIT[UNKNOWN_RESTRICTION]


_KIND_AND_LIMIT: Final = attrgetter("type", "amount")


class RestrictionAssessment(NamedTuple):
    """Whether a representative may sign this order at all, and why not."""

    restricted: bool
    reasons: list[str]
    joint_only: bool


def restriction_bits(
    restrictions: Iterable[Restriction],
    valid_from: date | None,
    valid_until: date | None,
    amount: Decimal,
    on: date,
) -> tuple[int, bool]:
    """Judge one mandate: (reason bits, joint_only). The validity window is inclusive at both ends."""
    bits = 0
    joint_only = False
    for kind, limit in map(_KIND_AND_LIMIT, restrictions):
        if kind == MAX_AMOUNT:
            # A limit Poderes did not state cannot be shown to cover the order: fail closed.
            if limit is None or amount > limit:
                bits |= _MAX_AMOUNT_BIT
        elif kind == BLOCKED:
            bits |= _BLOCKED_BIT
        elif kind == JOINT_ONLY:
            joint_only = True
        else:
            # Types are matched exactly: anything we do not know (even a case variant) fails closed.
            bits |= _UNKNOWN_BIT
    if valid_until is not None and on > valid_until:
        bits |= _EXPIRED_BIT
    if valid_from is not None and on < valid_from:
        bits |= _NOT_YET_VALID_BIT
    return bits, joint_only


def assess_representative(
    restrictions: Iterable[Restriction],
    valid_from: date | None,
    valid_until: date | None,
    amount: Decimal,
    on: date,
) -> RestrictionAssessment:
    """Judge one mandate against an order of `amount` on date `on`."""
    bits, joint_only = restriction_bits(restrictions, valid_from, valid_until, amount, on)
    return RestrictionAssessment(bool(bits), list(REASONS_BY_BITS[bits]), joint_only)


def assess_restrictions(
    representatives: Iterable[Representative], amount: Decimal, on: date
) -> dict[str, RestrictionAssessment]:
    """Assess every representative, keyed by CPF.

    A CPF listed more than once is judged on all its entries together, failing closed: restricted
    when any entry is, with every reason found.
    """
    found: dict[str, tuple[int, bool]] = {}
    for rep in representatives:
        bits, joint_only = restriction_bits(rep.restrictions, rep.valid_from, rep.valid_until, amount, on)
        previous = found.get(rep.cpf)
        if previous is not None:
            bits |= previous[0]
            joint_only = joint_only or previous[1]
        found[rep.cpf] = (bits, joint_only)
    return {
        cpf: RestrictionAssessment(bool(bits), list(REASONS_BY_BITS[bits]), joint_only)
        for cpf, (bits, joint_only) in found.items()
    }
