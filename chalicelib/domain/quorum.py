"""The quorum engine: whether a company party can sign an order, who may sign, and why not.

`evaluate_party` applies the rules in order (docs/quorum.md, "Algorithm"):
1. judge every person: restrictions, what Pessoas / Cadastro Único found, the what-if;
2. index who may sign, group by group;
3. decide every rule: skipped above its ceiling, failed when it asks for nobody or cannot be filled;
4. say why there is no quorum, or who is critical and whom to notify.
The answer's types are in quorum_results.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

from chalicelib.domain.partners import CompanyPowers, Representative
from chalicelib.domain.quorum_lint import LintFinding, RuleRow, lint_rule_rows, lint_rules, rule_rows
from chalicelib.domain.quorum_matching import RuleMatch, first_fit, match_rule
from chalicelib.domain.quorum_results import (
    ALL_RESTRICTED,
    EMPTY_RULE_PROBLEM,
    FINDINGS_IN_REPORT_ORDER,
    NO_ACCOUNT_ACCESS,
    NO_ACTIVE_OPERATOR,
    NO_OPERATOR,
    NO_REPRESENTATIVES,
    NO_RULE_SATISFIED,
    NOT_ENOUGH_SIGNERS,
    NOT_FOUND,
    PERSON_NOT_FOUND,
    UNAVAILABLE,
    ExcludedPerson,
    FailedRule,
    Participant,
    PartyEvaluation,
    RequirementEligibility,
    RuleEligibility,
    Shortfall,
    SignerSet,
    SkippedRule,
)
from chalicelib.domain.restrictions import (
    JOINT_ONLY,
    REASONS_BY_BITS,
    Mandate,
    assess_restrictions,
    fold_repeated_cpfs,
    restriction_bits,
)

__all__ = [
    "ALL_RESTRICTED",
    "EMPTY_RULE_PROBLEM",
    "NOT_ENOUGH_SIGNERS",
    "NOT_FOUND",
    "NO_ACCOUNT_ACCESS",
    "NO_ACTIVE_OPERATOR",
    "NO_OPERATOR",
    "NO_REPRESENTATIVES",
    "NO_RULE_SATISFIED",
    "PERSON_NOT_FOUND",
    "UNAVAILABLE",
    "ExcludedPerson",
    "FailedRule",
    "LintFinding",
    "Participant",
    "PartyEvaluation",
    "RequirementEligibility",
    "RuleEligibility",
    "Shortfall",
    "SignerSet",
    "SkippedRule",
    "assess_restrictions",
    "evaluate_party",
    "lint_rules",
]

_NOBODY: tuple[str, ...] = ()


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
    rules = rule_rows(powers.rules if powers is not None else [])

    participants = judge_people(representatives, amount, on, inactive, unavailable)
    people = SigningPool.index(participants)

    satisfied: list[SatisfiedRule] = []
    failed: list[FailedRule] = []
    skipped: list[SkippedRule] = []
    for rule in rules:
        outcome = decide_rule(rule, amount, people)
        if isinstance(outcome, SatisfiedRule):
            satisfied.append(outcome)
        elif isinstance(outcome, FailedRule):
            failed.append(outcome)
        else:
            skipped.append(outcome)

    return PartyEvaluation(
        quorum_met=bool(satisfied),
        reason=None if satisfied else why_no_quorum(participants, unavailable),
        amount=amount,
        evaluated_on=on,
        participants=tuple(participants),
        satisfied_rules=tuple(rule.rule_id for rule in satisfied),
        signer_sets=tuple(SignerSet(rule.rule_id, rule.signers) for rule in satisfied),
        eligible_by_requirement=eligibility_by_requirement(satisfied, people),
        failed_rules=tuple(failed),
        skipped_rules=tuple(skipped),
        critical_signers=critical_signers(satisfied, people),
        signers_to_notify=signers_to_notify(satisfied, people),
        unavailable=tuple(sorted(unavailable)),
        lint=_lint(rules, people, representatives) if include_lint else (),
    )


# -- 1. judge every person ------------------------------------------------------------------------


def judge_people(
    representatives: Sequence[Representative],
    amount: Decimal,
    on: date,
    inactive: Mapping[str, Sequence[str]],
    unavailable: Collection[str],
) -> list[Participant]:
    """Business rule: a person may sign when his mandate is unrestricted (restrictions.restriction_bits),
    nothing was found against him by Pessoas / Cadastro Único, and the what-if does not name him.

    His reasons are his restrictions, then the findings in report order, then UNAVAILABLE. A CPF listed
    more than once is one person (restrictions.fold_repeated_cpfs). Everyone comes out sorted by CPF.
    """
    return _judge_each_representative(representatives, amount, on, inactive, unavailable)


# The engine's one speed trick: `bench_quorum.py --against` measured it cutting the evaluation ~10% at 1k and 10k reps.
def _judge_each_representative(
    representatives: Sequence[Representative],
    amount: Decimal,
    on: date,
    inactive: Mapping[str, Sequence[str]],
    unavailable: Collection[str],
) -> list[Participant]:
    """judge_people's rule applied to every representative, in one tight loop.

    restrictions.restriction_bits judges only a mandate that something could restrict (restrictions, or a
    validity window that excludes `on`); any other mandate is unrestricted by that very rule. Participants
    are built as the plain tuples a NamedTuple is. The hypothesis oracle
    (tests/unit/test_quorum_properties.py) and the pinned answers (tests/unit/test_quorum_golden.py) guard it.
    """
    mandates: list[Mandate] = []
    for rep in representatives:
        restrictions, valid_from, valid_until = rep.restrictions, rep.valid_from, rep.valid_until
        if (
            restrictions
            or (valid_until is not None and on > valid_until)
            or (valid_from is not None and on < valid_from)
        ):
            mandates.append((rep.cpf, rep.groups, *restriction_bits(restrictions, valid_from, valid_until, amount, on)))
        else:
            mandates.append((rep.cpf, rep.groups, 0, False))
    new = tuple.__new__
    canonical: dict[tuple[str, ...], tuple[str, ...]] = {}  # groups as listed -> sorted, each once
    participants: list[Participant] = []
    for cpf, listed_groups, reason_bits, joint_only in fold_repeated_cpfs(mandates):
        listed = tuple(listed_groups)
        groups = canonical.get(listed) or canonical.setdefault(listed, tuple(sorted(set(listed))))
        findings = inactive.get(cpf)
        if not reason_bits and not findings and cpf not in unavailable:
            participants.append(new(Participant, (cpf, groups, False, True, _NOBODY, joint_only)))
            continue
        reasons = REASONS_BY_BITS[reason_bits]
        if findings:
            reasons += findings_in_report_order(tuple(findings))
        if cpf in unavailable:
            reasons += (UNAVAILABLE,)
        participants.append(new(Participant, (cpf, groups, reason_bits != 0, not reasons, reasons, joint_only)))
    participants.sort(key=attrgetter("cpf"))
    return participants


@lru_cache(maxsize=256)
def findings_in_report_order(findings: tuple[str, ...]) -> tuple[str, ...]:
    """Known findings in contract order, then anything else sorted: stable whatever order the caller used.

    Cached: people share a handful of distinct lists of findings.
    """
    known = [code for code in FINDINGS_IN_REPORT_ORDER if code in findings]
    others = sorted(set(findings).difference(FINDINGS_IN_REPORT_ORDER))
    return (*known, *others)


# -- 2. who may sign, group by group -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningPool:
    """The judged people, indexed the ways the rules ask for them; every list is sorted by CPF."""

    participants: Sequence[Participant]
    with_others: Mapping[str, tuple[str, ...]]  # group -> who may fill a slot of a rule of 2+ signers
    alone: Mapping[str, tuple[str, ...]]  # group -> who may fill a single-signer rule (not JOINT_ONLY)
    unable: Mapping[str, Sequence[str]]  # group -> who can sign nothing
    reasons: Mapping[str, tuple[str, ...]]  # who can sign nothing -> why
    joint_only: frozenset[str]
    member_count: Mapping[str, int]  # group -> how many people it has
    groupless: bool  # someone belongs to no group at all

    @classmethod
    def index(cls, participants: Sequence[Participant]) -> SigningPool:
        """Business rule: a JOINT_ONLY person may only fill slots of rules asking for 2 or more signers in all."""
        solo: defaultdict[str, list[str]] = defaultdict(list)
        joint: defaultdict[str, list[str]] = defaultdict(list)
        unable: defaultdict[str, list[str]] = defaultdict(list)
        reasons: dict[str, tuple[str, ...]] = {}
        joint_only: set[str] = set()
        groupless = False
        # Walking people in CPF order files them in CPF order.
        for cpf, groups, _, active, why_not, limited in participants:
            if not active:
                pool = unable
                reasons[cpf] = why_not
            elif limited:
                pool = joint
                joint_only.add(cpf)
            else:
                pool = solo
            for group in groups:
                pool[group].append(cpf)
            groupless = groupless or not groups
        with_others: dict[str, tuple[str, ...]] = {}
        alone: dict[str, tuple[str, ...]] = {}
        member_count: dict[str, int] = {}
        for group in {*solo, *joint, *unable}:
            solo_signers = tuple(solo.get(group, _NOBODY))
            joint_signers = joint.get(group, [])
            if solo_signers or joint_signers:
                alone[group] = solo_signers
                with_others[group] = tuple(sorted([*solo_signers, *joint_signers])) if joint_signers else solo_signers
            member_count[group] = len(solo_signers) + len(joint_signers) + len(unable.get(group, _NOBODY))
        return cls(
            participants=participants,
            with_others=with_others,
            alone=alone,
            unable=dict(unable),
            reasons=reasons,
            joint_only=frozenset(joint_only),
            member_count=member_count,
            groupless=groupless,
        )

    def eligible(self, single_signer: bool) -> Mapping[str, tuple[str, ...]]:
        """Group -> who may fill a slot, for a rule asking for one signer in all or for more."""
        return self.alone if single_signer else self.with_others

    def members(self, group: str) -> tuple[str, ...]:
        """Everyone in `group`, able to sign or not, by CPF."""
        unable = self.unable.get(group)
        eligible = self.with_others.get(group, _NOBODY)
        return tuple(sorted([*eligible, *unable])) if unable else eligible


# -- 3. decide every rule ---------------------------------------------------------------------------


class SatisfiedRule(NamedTuple):
    """A rule that can be met, and one set of signers that meets it."""

    rule_id: str
    requirements: tuple[tuple[str, int], ...]
    single_signer: bool
    signers: tuple[str, ...]


def decide_rule(rule: RuleRow, amount: Decimal, people: SigningPool) -> SatisfiedRule | FailedRule | SkippedRule:
    """Business rule: a rule applies when the amount is not above its ceiling (`max_amount`, none: always).

    An applicable rule that asks for nobody fails closed (it would let anyone sign). Otherwise it is met when
    distinct people fill all its slots (`min_signers` of each requirement's group); a JOINT_ONLY person
    fills no slot of a rule asking for one signer in all.
    """
    rule_id, max_amount, requirements = rule
    if max_amount is not None and amount > max_amount:
        return SkippedRule(rule_id, max_amount)
    required = 0
    for _, needed in requirements:
        if needed > 0:
            required += needed
    if required == 0:
        return FailedRule(rule_id, EMPTY_RULE_PROBLEM, 0, 0, ())
    single_signer = required == 1
    eligible = people.eligible(single_signer)
    signers = first_fit(requirements, eligible)
    if signers is None:
        match = match_rule(requirements, eligible)
        if not match.satisfied:
            shortfalls = explain_shortfalls(match, requirements, people, single_signer)
            return FailedRule(rule_id, NOT_ENOUGH_SIGNERS, required, match.filled, shortfalls)
        signers = match.signers
    return SatisfiedRule(rule_id, requirements, single_signer, signers)


def explain_shortfalls(
    match: RuleMatch, requirements: Sequence[tuple[str, int]], people: SigningPool, single_signer: bool
) -> tuple[Shortfall, ...]:
    """Business rule: a failed rule says, per shortfall, who could help: everyone of its groups who cannot sign.

    Deficits that share a group or someone who cannot sign are told as one: otherwise the same person
    would be offered as the fix for two shortfalls while he can fill only one slot.
    """
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
    shortfalls = []
    for indexes, _, available, everyone in sorted(parts, key=lambda part: min(part[0])):
        indexes.sort()
        would_help = []
        for cpf in sorted(everyone - available):
            reasons = people.reasons.get(cpf, _NOBODY)
            if single_signer and cpf in people.joint_only:
                reasons += (JOINT_ONLY,)
            would_help.append(ExcludedPerson(cpf, reasons))
        shortfalls.append(
            Shortfall(
                tuple(requirements[i] for i in indexes),
                sum(requirements[i][1] for i in indexes),
                tuple(sorted(available)),
                tuple(would_help),
            )
        )
    return tuple(shortfalls)


# -- 4. the party's answer --------------------------------------------------------------------------


def why_no_quorum(participants: Sequence[Participant], unavailable: Collection[str]) -> str:
    """Business rule (docs/contracts.md §2): the party reason when no rule is met.

    NO_REPRESENTATIVES, then ALL_RESTRICTED; then, among unrestricted people and ignoring the what-if,
    nobody active gives PERSON_NOT_FOUND when every one of them was only NOT_FOUND, else
    NO_ACTIVE_OPERATOR; otherwise NO_RULE_SATISFIED (also when the what-if made everybody unavailable).
    """
    if not participants:
        return NO_REPRESENTATIVES
    findings = [
        person.reasons[:-1] if person.cpf in unavailable else person.reasons
        for person in participants
        if not person.restricted
    ]
    if not findings:
        return ALL_RESTRICTED
    if all(findings):
        return PERSON_NOT_FOUND if all(found == (NOT_FOUND,) for found in findings) else NO_ACTIVE_OPERATOR
    return NO_RULE_SATISFIED


def eligibility_by_requirement(satisfied: Sequence[SatisfiedRule], people: SigningPool) -> tuple[RuleEligibility, ...]:
    """For each satisfied rule, who may fill each of its requirements."""
    # Many rules share requirements: each (kind of rule, group, size) is described once and shared.
    described: dict[tuple[bool, str, int], RequirementEligibility] = {}
    by_rule = []
    for rule in satisfied:
        eligible = people.eligible(rule.single_signer)
        requirements = []
        for group, needed in rule.requirements:
            key = (rule.single_signer, group, needed)
            if key not in described:
                described[key] = RequirementEligibility(group, needed, eligible.get(group, _NOBODY))
            requirements.append(described[key])
        by_rule.append(RuleEligibility(rule.rule_id, tuple(requirements)))
    return tuple(by_rule)


def critical_signers(satisfied: Sequence[SatisfiedRule], people: SigningPool) -> tuple[str, ...]:
    """Business rule: a critical signer is one without whom no applicable rule can be met (none without quorum).

    Someone missing from a rule's signer set is not needed by that rule: only people in every signer set
    are candidates, and each is checked by matching every rule again without him.
    """
    if not satisfied:
        return ()
    candidates = set(satisfied[0].signers).intersection(*(rule.signers for rule in satisfied[1:]))
    return tuple(
        cpf
        for cpf in sorted(candidates)
        if not any(
            match_rule(rule.requirements, people.eligible(rule.single_signer), (cpf,)).satisfied for rule in satisfied
        )
    )


def signers_to_notify(satisfied: Sequence[SatisfiedRule], people: SigningPool) -> tuple[str, ...]:
    """Business rule: notify everyone who may fill a slot of a satisfied rule.

    In a rule that can be filled, each such person belongs to some complete signer set (swap him into
    the slot he is eligible for), so nobody is notified who could not actually help sign.
    """
    joint_groups: set[str] = set()  # asked for by a rule of 2+ signers
    solo_groups: set[str] = set()  # asked for by single-signer rules only
    for rule in satisfied:
        asked = joint_groups if not rule.single_signer else solo_groups
        for group, needed in rule.requirements:
            if needed > 0:
                asked.add(group)
    solo_groups -= joint_groups
    # When every group's whole list is asked for, that is everyone who can sign, already in CPF order.
    if not people.groupless and all(
        group in joint_groups or (group in solo_groups and len(cpfs) == len(people.alone[group]))
        for group, cpfs in people.with_others.items()
    ):
        return tuple(person.cpf for person in people.participants if person.active)
    chosen: set[str] = set()
    for group in joint_groups:
        chosen.update(people.with_others.get(group, _NOBODY))
    for group in solo_groups:
        chosen.update(people.alone.get(group, _NOBODY))
    return tuple(sorted(chosen))


def _lint(
    rules: Sequence[RuleRow], people: SigningPool, representatives: Sequence[Representative]
) -> tuple[LintFinding, ...]:
    repeated: list[str] = []
    if len(people.participants) < len(representatives):
        repeated = [cpf for cpf, entries in Counter(rep.cpf for rep in representatives).items() if entries > 1]
    return tuple(lint_rule_rows(rules, people.member_count, repeated))
