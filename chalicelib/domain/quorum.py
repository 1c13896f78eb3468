"""The quorum engine: whether a company party can sign an order, who may sign, and why not."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import chain, compress, islice
from operator import attrgetter, eq, itemgetter
from typing import Any, Final, NamedTuple

from chalicelib.domain.orders import format_amount
from chalicelib.domain.partners import CompanyPowers, Representative
from chalicelib.domain.quorum_lint import LintFinding, lint_rule_rows, lint_rules, rule_rows
from chalicelib.domain.quorum_matching import RuleMatch, first_fit, match_rule
from chalicelib.domain.restrictions import JOINT_ONLY, REASONS_BY_BITS, assess_restrictions, restriction_bits

__all__ = [
    "ALL_RESTRICTED", "NO_ACTIVE_OPERATOR", "NO_REPRESENTATIVES", "NO_RULE_SATISFIED", "PERSON_NOT_FOUND",
    "NOT_FOUND", "NO_OPERATOR", "NO_ACCOUNT_ACCESS", "UNAVAILABLE",
    "EMPTY_RULE", "NOT_ENOUGH_SIGNERS",
    "ExcludedPerson", "FailedRule", "LintFinding", "Participant", "PartyEvaluation", "RequirementEligibility",
    "RuleEligibility", "Shortfall", "SignerSet", "SkippedRule",
    "assess_restrictions", "evaluate_party", "lint_rules",
]

# Party reasons (contracts §2).
NO_REPRESENTATIVES: Final = "NO_REPRESENTATIVES"
ALL_RESTRICTED: Final = "ALL_RESTRICTED"
NO_ACTIVE_OPERATOR: Final = "NO_ACTIVE_OPERATOR"
PERSON_NOT_FOUND: Final = "PERSON_NOT_FOUND"
NO_RULE_SATISFIED: Final = "NO_RULE_SATISFIED"

# Why an unrestricted person is not active (found by Pessoas / Cadastro Único), in report order.
NOT_FOUND: Final = "NOT_FOUND"
NO_OPERATOR: Final = "NO_OPERATOR"
NO_ACCOUNT_ACCESS: Final = "NO_ACCOUNT_ACCESS"
_INACTIVE_ORDER: Final = {NOT_FOUND: 0, NO_OPERATOR: 1, NO_ACCOUNT_ACCESS: 2}
# The what-if's own reason: the caller told us this person cannot sign.
UNAVAILABLE: Final = "UNAVAILABLE"

# Why an applicable rule failed.
EMPTY_RULE: Final = "EMPTY_RULE"
NOT_ENOUGH_SIGNERS: Final = "NOT_ENOUGH_SIGNERS"

_EMPTY: tuple[str, ...] = ()
# A NamedTuple built without the Python-level __new__ its class generates: these are made by the thousand.
_new_tuple = tuple.__new__


class Participant(NamedTuple):
    cpf: str
    groups: tuple[str, ...]
    restricted: bool
    active: bool
    reasons: tuple[str, ...]
    joint_only: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpf": self.cpf,
            "groups": list(self.groups),
            "restricted": self.restricted,
            "active": self.active,
            "reasons": list(self.reasons),
            "joint_only": self.joint_only,
        }


class SignerSet(NamedTuple):
    rule_id: str
    cpfs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "cpfs": list(self.cpfs)}


class RequirementEligibility(NamedTuple):
    group: str
    min_signers: int
    cpfs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "min_signers": self.min_signers, "cpfs": list(self.cpfs)}


class RuleEligibility(NamedTuple):
    """For a satisfied rule, who may fill each requirement (in the rule's requirement order)."""

    rule_id: str
    requirements: tuple[RequirementEligibility, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "requirements": [r.to_dict() for r in self.requirements]}


class ExcludedPerson(NamedTuple):
    """A representative of the shortfall's groups who could not sign, and why."""

    cpf: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cpf": self.cpf, "reasons": list(self.reasons)}


class Shortfall(NamedTuple):
    """Requirements that compete for the same people and lack `short` of them.

    `available` is everyone who could fill them (all are needed and still not enough);
    each person in `would_help` would, once able to sign, reduce `short` by one.
    """

    requirements: tuple[tuple[str, int], ...]
    needed: int
    available: tuple[str, ...]
    would_help: tuple[ExcludedPerson, ...]

    @property
    def short(self) -> int:
        return self.needed - len(self.available)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirements": [{"group": g, "min_signers": n} for g, n in self.requirements],
            "needed": self.needed,
            "available": list(self.available),
            "short": self.short,
            "would_help": [p.to_dict() for p in self.would_help],
        }


class FailedRule(NamedTuple):
    """An applicable rule that cannot be met; `shortfalls` add up to `required - fillable`."""

    rule_id: str
    problem: str
    required: int
    fillable: int
    shortfalls: tuple[Shortfall, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "problem": self.problem,
            "required": self.required,
            "fillable": self.fillable,
            "shortfalls": [s.to_dict() for s in self.shortfalls],
        }


class SkippedRule(NamedTuple):
    rule_id: str
    max_amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "max_amount": format_amount(self.max_amount)}


@dataclass(frozen=True, slots=True)
class PartyEvaluation:
    """The engine's answer for one company party. Rules keep Poderes' order; people are sorted by CPF."""

    quorum_met: bool
    reason: str | None
    amount: Decimal
    evaluated_on: date
    participants: tuple[Participant, ...]
    satisfied_rules: tuple[str, ...]
    signer_sets: tuple[SignerSet, ...]
    eligible_by_requirement: tuple[RuleEligibility, ...]
    failed_rules: tuple[FailedRule, ...]
    skipped_rules: tuple[SkippedRule, ...]
    critical_signers: tuple[str, ...]
    signers_to_notify: tuple[str, ...]
    unavailable: tuple[str, ...]
    lint: tuple[LintFinding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "quorum_met": self.quorum_met,
            "reason": self.reason,
            "amount": format_amount(self.amount),
            "evaluated_on": self.evaluated_on.isoformat(),
            "participants": [p.to_dict() for p in self.participants],
            "satisfied_rules": list(self.satisfied_rules),
            "signer_sets": [s.to_dict() for s in self.signer_sets],
            "eligible_by_requirement": [e.to_dict() for e in self.eligible_by_requirement],
            "failed_rules": [f.to_dict() for f in self.failed_rules],
            "skipped_rules": [s.to_dict() for s in self.skipped_rules],
            "critical_signers": list(self.critical_signers),
            "signers_to_notify": list(self.signers_to_notify),
            "unavailable": list(self.unavailable),
            "lint": [f.to_dict() for f in self.lint],
        }


def _inactive_reasons(codes: Sequence[str]) -> tuple[str, ...]:
    # Known codes in contract order, then anything else sorted: stable whatever order the caller used.
    return tuple(sorted(set(codes), key=lambda c: (_INACTIVE_ORDER.get(c, len(_INACTIVE_ORDER)), c)))


@dataclass(slots=True)
class _People:
    """Everyone in the party, indexed the ways the rules need them."""

    participants: list[Participant]  # sorted by CPF
    joint_only: set[str]
    member_count: dict[str, int]  # group -> how many representatives it has
    eligible_any: dict[str, tuple[str, ...]]  # group -> who can sign a rule of 2+ signers, by CPF
    eligible_solo: dict[str, tuple[str, ...]]  # group -> who can sign a single-signer rule (no JOINT_ONLY)
    blocked: dict[str, list[str]]  # group -> those who can sign nothing, by CPF
    duplicates: list[str]
    any_unrestricted: bool
    any_active: bool  # an unrestricted person Pessoas/Cadastro Único did not flag (what-if ignored)
    only_not_found: bool  # every unrestricted person was flagged NOT_FOUND and nothing else
    groupless: bool  # someone belongs to no group at all
    reasons_by_cpf: dict[str, tuple[str, ...]] | None = None

    def members(self, group: str) -> tuple[str, ...]:
        """Everyone in `group`, by CPF; only failing rules ask, so it is not built up front."""
        blocked = self.blocked.get(group)
        eligible = self.eligible_any.get(group, _EMPTY)
        return tuple(sorted([*eligible, *blocked])) if blocked else eligible


_CPF_OF = itemgetter(0)  # of a Participant
_GROUPS_OF = itemgetter(1)
_ACTIVE_OF = itemgetter(3)
_ROW = attrgetter("cpf", "groups", "restrictions", "valid_from", "valid_until")
_FIRST = itemgetter(0)
_Row = tuple[str, list[str], list[Any], "date | None", "date | None"]


def _fold_repeated(
    rows: list[_Row], amount: Decimal, on: date
) -> tuple[list[_Row], dict[str, tuple[int, bool, list[str]]], list[str]]:
    """Fold repeated CPFs into one person, failing closed: restricted if any entry is (order-free)."""
    unique: list[_Row] = []
    folded: dict[str, tuple[int, bool, list[str]]] = {}
    repeated: list[str] = []
    for row in rows:
        cpf, groups, restrictions, valid_from, valid_until = row
        bits, joint = restriction_bits(restrictions, valid_from, valid_until, amount, on)
        previous = folded.get(cpf)
        if previous is None:
            unique.append(row)
            folded[cpf] = (bits, joint, list(groups))
        else:
            repeated.append(cpf)
            folded[cpf] = (previous[0] | bits, previous[1] or joint, previous[2] + list(groups))
    repeated_set = set(repeated)
    return unique, {cpf: v for cpf, v in folded.items() if cpf in repeated_set}, repeated


def _canonical_groups(groups: tuple[str, ...]) -> tuple[str, ...]:
    """Groups sorted and each once; Poderes usually sends them so, which is cheap to check."""
    size = len(groups)
    if size == 1 or (size == 2 and groups[0] < groups[1]) or (size == 3 and groups[0] < groups[1] < groups[2]):
        return groups
    return tuple(sorted(set(groups)))


def _index_people(
    representatives: Sequence[Representative],
    amount: Decimal,
    on: date,
    inactive: Mapping[str, Sequence[str]],
    unavailable: Collection[str],
) -> _People:
    people = _file_people(map(_ROW, representatives), amount, on, inactive, unavailable, {}, [])
    if people is None:  # a CPF is listed more than once (rare): fold its entries and file again
        rows = sorted(map(_ROW, representatives), key=_FIRST)
        unique, folded, repeated = _fold_repeated(rows, amount, on)
        people = _file_people(unique, amount, on, inactive, unavailable, folded, repeated)
        assert people is not None
    return people


def _file_people(
    rows: Iterable[_Row],
    amount: Decimal,
    on: date,
    inactive: Mapping[str, Sequence[str]],
    unavailable: Collection[str],
    folded: Mapping[str, tuple[int, bool, list[str]]],
    repeated: list[str],
) -> _People | None:
    """Judge and index everyone; None when a CPF repeats and `folded` does not cover it."""
    # This loop runs once per representative and dominates the cost for large companies. It walks
    # Poderes' order, which is the order the models sit in memory (with 10,000 people, walking them
    # in CPF order instead costs a cache miss on every list, string and date a person owns); the
    # participants are sorted by CPF afterwards. The common case (no restriction, valid mandate,
    # nothing flagged) is kept to a handful of operations, and canonical groups are computed once per
    # distinct list of groups.
    flagged: Collection[str] = set(inactive).union(unavailable, folded) if inactive or unavailable or folded else ()
    canonical: dict[tuple[str, ...], tuple[str, ...]] = {}
    joint_only: set[str] = set()
    participants: list[Participant] = []
    add = participants.append
    special = 0
    any_unrestricted = any_active = False
    only_not_found = True
    known_flags: dict[tuple[str, ...], tuple[str, ...]] = {}
    for cpf, raw_groups, restrictions, valid_from, valid_until in rows:
        key = tuple(raw_groups)
        groups = canonical.get(key)
        if groups is None:
            groups = canonical[key] = _canonical_groups(key)
        if not (
            restrictions
            or (valid_from is not None and valid_from > on)
            or (valid_until is not None and valid_until < on)
            or cpf in flagged
        ):
            add(_new_tuple(Participant, (cpf, groups, False, True, _EMPTY, False)))
            continue
        special += 1
        if folded and cpf in folded:
            bits, joint, merged_groups = folded[cpf]
            groups = _canonical_groups(tuple(merged_groups))
        else:
            bits, joint = restriction_bits(restrictions, valid_from, valid_until, amount, on)
        reasons = REASONS_BY_BITS[bits]
        flags = inactive.get(cpf)
        if flags:
            found = tuple(flags)
            flags = known_flags.get(found)
            if flags is None:
                flags = known_flags[found] = _inactive_reasons(found)
            reasons += flags
        if not bits:
            any_unrestricted = True
            if not flags:
                any_active = True
            elif flags != (NOT_FOUND,):
                only_not_found = False
        if unavailable and cpf in unavailable:
            reasons += (UNAVAILABLE,)
        if joint:
            joint_only.add(cpf)
        add(_new_tuple(Participant, (cpf, groups, bits != 0, not reasons, reasons, joint)))
    if special < len(participants):
        any_unrestricted = any_active = True

    participants.sort(key=_CPF_OF)
    cpfs = list(map(_CPF_OF, participants))
    if not folded and any(map(eq, cpfs, islice(cpfs, 1, None))):  # sorted: a repeated CPF is next to itself
        return None

    # Walking the sorted participants files everyone under his groups already in CPF order.
    solo: defaultdict[str, list[str]] = defaultdict(list)  # group -> who can sign anything
    joint_lists: defaultdict[str, list[str]] = defaultdict(list)  # ... only with others
    blocked: defaultdict[str, list[str]] = defaultdict(list)  # ... nothing
    if special:
        for cpf, groups, _, active, _, joint in participants:
            target = (joint_lists if joint else solo) if active else blocked
            for group in groups:
                target[group].append(cpf)
    else:
        for cpf, groups in zip(cpfs, map(_GROUPS_OF, participants)):
            for group in groups:
                solo[group].append(cpf)
    eligible_any: dict[str, tuple[str, ...]] = {}
    eligible_solo: dict[str, tuple[str, ...]] = {}
    member_count: dict[str, int] = {}
    for group in {*solo, *joint_lists, *blocked}:
        alone = tuple(solo.get(group, _EMPTY))
        with_others = joint_lists.get(group)
        if alone or with_others:
            eligible_solo[group] = alone
            # Two sorted runs: sorting them is one linear merge.
            eligible_any[group] = tuple(sorted([*alone, *with_others])) if with_others else alone
        member_count[group] = len(alone) + len(with_others or _EMPTY) + len(blocked.get(group, _EMPTY))
    return _People(
        participants, joint_only, member_count, eligible_any, eligible_solo, dict(blocked), repeated,
        any_unrestricted, any_active, only_not_found, () in canonical,
    )


class _Views(dict[tuple[str, int], RequirementEligibility]):
    """Requirement (group, min_signers) -> who may fill it, from one of the eligibility indexes.

    Many rules share requirements, so each view is built once per evaluation and then shared.
    """

    __slots__ = ("eligible",)

    def __init__(self, eligible: Mapping[str, tuple[str, ...]]) -> None:
        super().__init__()
        self.eligible = eligible

    def __missing__(self, requirement: tuple[str, int]) -> RequirementEligibility:
        group, needed = requirement
        view = self[requirement] = _new_tuple(RequirementEligibility, (group, needed, self.eligible.get(group, _EMPTY)))
        return view


# A satisfied rule as the matcher saw it: its (group, min_signers) and who could fill each group.
_Satisfied = tuple[Sequence[tuple[str, int]], Mapping[str, tuple[str, ...]]]


def _shortfalls(
    match: RuleMatch, requirements: Sequence[tuple[str, int]], people: _People, single_signer: bool
) -> tuple[Shortfall, ...]:
    if people.reasons_by_cpf is None:
        # Only failing rules need to look people up by CPF: build the index once, on the first one.
        people.reasons_by_cpf = {p.cpf: p.reasons for p in people.participants}
    reasons_by_cpf = people.reasons_by_cpf
    # Deficits that share a group or someone who cannot sign are told as one: otherwise the same
    # person would be offered as the fix for two shortfalls while he can fill only one slot.
    parts: list[tuple[list[int], set[str], set[str], set[str]]] = []  # indexes, groups, available, everyone
    for deficit in match.deficits:
        indexes = list(deficit.requirement_indexes)
        groups = {requirements[i][0] for i in indexes}
        everyone = set(chain.from_iterable(people.members(group) for group in groups))
        available = set(deficit.available)
        for other in [part for part in parts if part[1] & groups or part[3] & everyone]:
            parts.remove(other)
            indexes += other[0]
            groups |= other[1]
            available |= other[2]
            everyone |= other[3]
        parts.append((indexes, groups, available, everyone))
    result = []
    for indexes, _, available, everyone in sorted(parts, key=lambda part: min(part[0])):
        indexes.sort()
        helpers = []
        for cpf in sorted(everyone - available):
            reasons = reasons_by_cpf[cpf]
            if single_signer and cpf in people.joint_only:
                reasons += (JOINT_ONLY,)
            helpers.append(ExcludedPerson(cpf, reasons))
        result.append(Shortfall(
            tuple(requirements[i] for i in indexes),
            sum(requirements[i][1] for i in indexes),
            tuple(sorted(available)),
            tuple(helpers),
        ))
    return tuple(result)


def evaluate_party(
    powers: CompanyPowers | None,
    amount: Decimal,
    on: date,
    *,
    inactive: Mapping[str, Sequence[str]] | None = None,
    unavailable: Collection[str] = (),
    include_lint: bool = True,
) -> PartyEvaluation:
    """Decide whether a company party has quorum for an order of `amount` evaluated `on` that date.

    `inactive` maps a CPF to what Pessoas / Cadastro Único found against that person (NOT_FOUND,
    NO_OPERATOR, NO_ACCOUNT_ACCESS); an empty list means nothing was found, so the person is active.
    `unavailable` is the what-if: people to treat as unable to sign. The output does not depend on
    the order of the representatives (they are sorted by CPF); rules keep Poderes' order.
    `include_lint=False` skips the rule-set lint (it depends on Poderes' answer alone, not on the order,
    so a caller evaluating one answer many times, e.g. a what-if sweep, lints it once).
    """
    inactive = inactive or {}
    unavailable = frozenset(unavailable)
    representatives = powers.representatives if powers is not None else []
    rules = powers.rules if powers is not None else []
    people = _index_people(representatives, amount, on, inactive, unavailable)
    eligible_any = people.eligible_any
    eligible_solo = people.eligible_solo

    satisfied: list[_Satisfied] = []
    signer_sets: list[SignerSet] = []
    eligibility: list[RuleEligibility] = []
    failed: list[FailedRule] = []
    skipped: list[SkippedRule] = []
    # Who may fill a requirement depends only on its group, its size and the kind of rule: built once.
    solo_views, joint_views = _Views(eligible_solo), _Views(eligible_any)
    rows = rule_rows(rules)
    for rule_id, max_amount, requirements in rows:
        if max_amount is not None and amount > max_amount:
            skipped.append(SkippedRule(rule_id, max_amount))
            continue
        required = 0
        for _, needed in requirements:
            if needed > 0:
                required += needed
        if required == 0:
            # A rule that asks for nobody would let anyone sign: fail closed.
            failed.append(FailedRule(rule_id, EMPTY_RULE, 0, 0, ()))
            continue
        single_signer = required < 2
        eligible, views = (eligible_solo, solo_views) if single_signer else (eligible_any, joint_views)
        signers = first_fit(requirements, eligible)
        if signers is None:
            match = match_rule(requirements, eligible)
            if not match.satisfied:
                failed.append(FailedRule(
                    rule_id, NOT_ENOUGH_SIGNERS, required, match.filled,
                    _shortfalls(match, requirements, people, single_signer),
                ))
                continue
            signers = match.signers
        satisfied.append((requirements, eligible))
        signer_sets.append(_new_tuple(SignerSet, (rule_id, signers)))
        eligibility.append(_new_tuple(RuleEligibility, (rule_id, tuple(map(views.__getitem__, requirements)))))

    critical = _critical_signers(satisfied, signer_sets)
    notify = _signers_to_notify(solo_views, joint_views, people)

    if satisfied:
        reason = None
    elif not people.participants:
        reason = NO_REPRESENTATIVES
    elif not people.any_unrestricted:
        reason = ALL_RESTRICTED
    elif not people.any_active:
        reason = PERSON_NOT_FOUND if people.only_not_found else NO_ACTIVE_OPERATOR
    else:
        reason = NO_RULE_SATISFIED

    return PartyEvaluation(
        quorum_met=bool(satisfied),
        reason=reason,
        amount=amount,
        evaluated_on=on,
        participants=tuple(people.participants),
        satisfied_rules=tuple(map(_FIRST, signer_sets)),
        signer_sets=tuple(signer_sets),
        eligible_by_requirement=tuple(eligibility),
        failed_rules=tuple(failed),
        skipped_rules=tuple(skipped),
        critical_signers=critical,
        signers_to_notify=notify,
        unavailable=tuple(sorted(unavailable)),
        lint=tuple(lint_rule_rows(rows, people.member_count, people.duplicates)) if include_lint else (),
    )


def _critical_signers(
    satisfied: Sequence[_Satisfied],
    signer_sets: Sequence[SignerSet],
) -> tuple[str, ...]:
    """People without whom no applicable rule can be met (none when quorum is not met anyway)."""
    if not satisfied:
        return ()
    # Someone missing from any rule's signer set is not needed by that rule: only the intersection can be critical.
    candidates = set(signer_sets[0].cpfs)
    for signer_set in signer_sets[1:]:
        candidates.intersection_update(signer_set.cpfs)
        if not candidates:
            return ()
    return tuple(
        cpf for cpf in sorted(candidates)
        if not any(match_rule(requirements, eligible, (cpf,)).satisfied for requirements, eligible in satisfied)
    )


def _signers_to_notify(solo_views: _Views, joint_views: _Views, people: _People) -> tuple[str, ...]:
    """Everyone who may fill a slot of a satisfied rule (the views hold the requirements they had).

    In a rule that can be filled, each such person belongs to some complete signer set (swap him
    into the slot he is eligible for), so nobody is notified who could not actually help sign.
    """
    joint_groups = {group for group, needed in joint_views if needed > 0}
    solo_groups = {group for group, needed in solo_views if needed > 0} - joint_groups
    eligible_solo = people.eligible_solo
    if not people.groupless and all(
        group in joint_groups or (group in solo_groups and cpfs is eligible_solo[group])
        for group, cpfs in people.eligible_any.items()
    ):
        # Every list of every group is in: that is everyone who can sign, already in CPF order.
        participants = people.participants
        return tuple(compress(map(_CPF_OF, participants), map(_ACTIVE_OF, participants)))
    # The 2+-signer list of a group already holds everyone in its single-signer list.
    chosen: set[str] = set()
    for group in joint_groups:
        chosen.update(people.eligible_any.get(group, _EMPTY))
    for group in solo_groups:
        chosen.update(eligible_solo.get(group, _EMPTY))
    return tuple(sorted(chosen))
