"""Lint of a company's signing rules: findings a person should fix at Poderes, never fatal."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple

from chalicelib.domain.partners import CompanyPowers, Rule

DUPLICATE_REPRESENTATIVE: Final = "DUPLICATE_REPRESENTATIVE"
DUPLICATE_RULE_ID: Final = "DUPLICATE_RULE_ID"
EMPTY_RULE: Final = "EMPTY_RULE"
NON_POSITIVE_MIN_SIGNERS: Final = "NON_POSITIVE_MIN_SIGNERS"
REQUIREMENT_EXCEEDS_GROUP: Final = "REQUIREMENT_EXCEEDS_GROUP"
DUPLICATE_RULE: Final = "DUPLICATE_RULE"
DOMINATED_RULE: Final = "DOMINATED_RULE"
GROUP_WITHOUT_REPRESENTATIVES: Final = "GROUP_WITHOUT_REPRESENTATIVES"

# Past this many groups in one rule, enumerating subsets of its groups costs more than a plain scan.
_MAX_SUBSET_GROUPS: Final = 10


class LintFinding(NamedTuple):
    """One problem in the rules; `rule_ids` starts with the rule the finding is about."""

    code: str
    detail: str
    rule_ids: tuple[str, ...] = ()
    group: str | None = None
    cpf: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule_ids": list(self.rule_ids),
            "group": self.group,
            "cpf": self.cpf,
            "detail": self.detail,
        }


@dataclass(slots=True)
class _Shape:
    """A rule reduced to what decides who satisfies it: demand per group, total, amount ceiling."""

    position: int
    rule_id: str
    demand: dict[str, int]
    total: int
    max_amount: Decimal | None
    mask: int  # one bit per group it asks for
    packed: int = 0  # demands side by side in fixed-width fields, see _pack


def _pack(shapes: Sequence[_Shape], index_of: Mapping[str, int]) -> int:
    """Pack each rule's demands into one int so that "a asks no more than b, group by group" is one subtraction.

    Every group gets a field of `width` bits plus a guard bit above it; with the guards set in b,
    subtracting a never borrows across fields, and a guard survives exactly where b's demand >= a's.
    Returns the mask of all guard bits.
    """
    width = max((n for shape in shapes for n in shape.demand.values()), default=1).bit_length()
    field = width + 1
    for shape in shapes:
        shape.packed = sum(needed << (index_of[group] * field) for group, needed in shape.demand.items())
    return sum(1 << (index * field + width) for index in range(len(index_of)))


def _redundancy(shapes: Sequence[_Shape], index_of: Mapping[str, int]) -> list[tuple[int, LintFinding]]:
    guards = _pack(shapes, index_of)
    by_mask: dict[int, list[_Shape]] = {}
    for shape in shapes:
        by_mask.setdefault(shape.mask, []).append(shape)
    found: list[tuple[int, LintFinding]] = []
    for b in shapes:
        mask = b.mask
        b_guarded = b.packed | guards
        b_total = b.total
        b_max = b.max_amount
        duplicate_of: _Shape | None = None
        dominators: list[_Shape] = []
        if len(b.demand) > _MAX_SUBSET_GROUPS:
            groups_of = [[a for a in shapes if a.mask & ~mask == 0]]
        else:
            # Only a rule whose groups are a subset of b's can dominate b: enumerate those subsets.
            groups_of = []
            sub = mask
            while sub:
                same = by_mask.get(sub)
                if same is not None:
                    groups_of.append(same)
                sub = (sub - 1) & mask
        for candidates in groups_of:
            for a in candidates:
                if a is b or a.total > b_total or (b_guarded - a.packed) & guards != guards:
                    continue
                # a asks no more than b in every group; now compare when each applies.
                a_max = a.max_amount
                if a.packed == b.packed and a_max == b_max:
                    if a.position < b.position and (duplicate_of is None or a.position < duplicate_of.position):
                        duplicate_of = a
                elif (a_max is None or (b_max is not None and b_max <= a_max)) and not (a.total < 2 <= b_total):
                    # A JOINT_ONLY person may sign b (2+ signers) but not a single-signer a.
                    dominators.append(a)
        if duplicate_of is not None:
            found.append((b.position, LintFinding(
                DUPLICATE_RULE,
                f"A regra {b.rule_id} repete a regra {duplicate_of.rule_id}.",
                (b.rule_id, duplicate_of.rule_id),
            )))
        elif dominators:
            dominators.sort(key=_position)
            names = ", ".join(s.rule_id for s in dominators)
            found.append((b.position, LintFinding(
                DOMINATED_RULE,
                f"A regra {b.rule_id} nunca é necessária: quem a cumpre também cumpre {names}.",
                (b.rule_id, *(s.rule_id for s in dominators)),
            )))
    return found


def _position(shape: _Shape) -> int:
    return shape.position


def lint_rule_set(
    rules: Sequence[Rule],
    member_count: Mapping[str, int],
    duplicate_cpfs: Iterable[str] = (),
) -> list[LintFinding]:
    """Lint `rules` given how many distinct representatives each group has."""
    findings: list[LintFinding] = [
        LintFinding(
            DUPLICATE_REPRESENTATIVE,
            "O mesmo CPF aparece mais de uma vez entre os representantes; as entradas foram unidas.",
            cpf=cpf,
        )
        for cpf in sorted(set(duplicate_cpfs))
    ]
    per_rule: list[tuple[int, LintFinding]] = []
    shapes: list[_Shape] = []
    index_of: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    missing_groups: dict[str, list[str]] = {}
    for position, rule in enumerate(rules):
        rule_id = rule.rule_id
        if rule_id in seen_ids:
            per_rule.append((position, LintFinding(
                DUPLICATE_RULE_ID, f"Há mais de uma regra com o identificador {rule_id}.", (rule_id,)
            )))
        else:
            seen_ids[rule_id] = position
        demand = {}
        for requirement in rule.requirements:
            needed = requirement.min_signers
            if needed > 0:
                group = requirement.group
                demand[group] = demand.get(group, 0) + needed
            else:
                per_rule.append((position, LintFinding(
                    NON_POSITIVE_MIN_SIGNERS,
                    f"A regra {rule_id} pede {needed} assinante(s) do grupo {requirement.group}.",
                    (rule_id,), requirement.group,
                )))
        if not demand:
            per_rule.append((position, LintFinding(
                EMPTY_RULE, f"A regra {rule_id} não exige nenhum assinante e nunca é aceita.", (rule_id,)
            )))
            continue
        mask = 0
        for group, needed in demand.items():
            members = member_count.get(group, 0)
            if members == 0:
                missing_groups.setdefault(group, []).append(rule_id)
            elif needed > members:
                per_rule.append((position, LintFinding(
                    REQUIREMENT_EXCEEDS_GROUP,
                    f"A regra {rule_id} pede {needed} assinante(s) do grupo {group}, que só tem {members}.",
                    (rule_id,), group,
                )))
            mask |= 1 << index_of.setdefault(group, len(index_of))
        shapes.append(_Shape(position, rule_id, demand, sum(demand.values()), rule.max_amount, mask))
    per_rule.extend(_redundancy(shapes, index_of))
    per_rule.sort(key=_first)  # stable: within a rule, the order above
    findings.extend(finding for _, finding in per_rule)
    for group in sorted(missing_groups):
        rule_ids = tuple(dict.fromkeys(missing_groups[group]))
        findings.append(LintFinding(
            GROUP_WITHOUT_REPRESENTATIVES,
            f"Nenhum representante pertence ao grupo {group}, exigido por {', '.join(rule_ids)}.",
            rule_ids, group,
        ))
    return findings


def _first(item: tuple[int, LintFinding]) -> int:
    return item[0]


def lint_rules(powers: CompanyPowers | None) -> list[LintFinding]:
    """Lint the rules of `powers` against its representatives (nothing to lint without powers)."""
    if powers is None:
        return []
    members: dict[str, set[str]] = {}
    seen: set[str] = set()
    duplicates: list[str] = []
    for rep in powers.representatives:
        if rep.cpf in seen:
            duplicates.append(rep.cpf)
        seen.add(rep.cpf)
        for group in rep.groups:
            members.setdefault(group, set()).add(rep.cpf)
    return lint_rule_set(powers.rules, {g: len(m) for g, m in members.items()}, duplicates)
