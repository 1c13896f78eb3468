"""What the quorum engine answers for one company party (docs/quorum.md, "Explanation format").

Plain values with a `to_dict` each; `PartyEvaluation.to_dict()` is the JSON the workflow stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, NamedTuple

from chalicelib.domain.money import format_amount
from chalicelib.domain.quorum_lint import LintFinding

# Why a party has no quorum (docs/contracts.md §2).
NO_REPRESENTATIVES: Final = "NO_REPRESENTATIVES"
ALL_RESTRICTED: Final = "ALL_RESTRICTED"
NO_ACTIVE_OPERATOR: Final = "NO_ACTIVE_OPERATOR"
PERSON_NOT_FOUND: Final = "PERSON_NOT_FOUND"
NO_RULE_SATISFIED: Final = "NO_RULE_SATISFIED"

# Why an unrestricted person is not active (found by Pessoas / Cadastro Único), in report order.
NOT_FOUND: Final = "NOT_FOUND"
NO_OPERATOR: Final = "NO_OPERATOR"
NO_ACCOUNT_ACCESS: Final = "NO_ACCOUNT_ACCESS"
FINDINGS_IN_REPORT_ORDER: Final[tuple[str, ...]] = (NOT_FOUND, NO_OPERATOR, NO_ACCOUNT_ACCESS)
# The what-if's own reason: the caller said this person cannot sign.
UNAVAILABLE: Final = "UNAVAILABLE"

# Why an applicable rule failed (`FailedRule.problem`).
EMPTY_RULE_PROBLEM: Final = "EMPTY_RULE"  # a rule asking for nobody; the lint reports it too, as a finding
NOT_ENOUGH_SIGNERS: Final = "NOT_ENOUGH_SIGNERS"


class Participant(NamedTuple):
    """One representative (repeated CPFs folded into one) as the engine judged him for this order."""

    cpf: str
    groups: tuple[str, ...]
    restricted: bool
    active: bool  # can sign: unrestricted, nothing found against him, not named by the what-if
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
    """People who together fill every slot of a satisfied rule, by CPF."""

    rule_id: str
    cpfs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "cpfs": list(self.cpfs)}


class RequirementEligibility(NamedTuple):
    """Who may fill one requirement (group, min_signers) of a satisfied rule, by CPF."""

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
    """A rule that does not apply: the order's amount is above its ceiling."""

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
