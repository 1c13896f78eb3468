"""Lint of a company's signing rules: findings a person should fix at Poderes, never fatal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

# A rule as plain values: (rule_id, max_amount, ((group, min_signers), ...)).
RuleRow = tuple[str, "Decimal | None", tuple[tuple[str, int], ...]]


def rule_rows(rules: Iterable[Rule]) -> list[RuleRow]:
    """Read each rule from its model once; the evaluation and the lint both work on these tuples."""
    return [
        (
            rule.rule_id,
            rule.max_amount,
            tuple([(requirement.group, requirement.min_signers) for requirement in rule.requirements]),
        )
        for rule in rules
    ]


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


# A rule that asks for someone: (position, rule_id, {group index: signers}, total, max_amount, group mask).
_Shape = tuple[int, str, dict[int, int], int, "Decimal | None", int]

# Groups per lookup table when finding the rules that ask only for groups of another rule.
_BLOCK: Final = 5


def _users_outside(uses: Sequence[int]) -> list[tuple[int, int, list[int]]]:
    """Tables to find the rules (as a bit set) that ask for some group outside a group mask.

    The groups are cut into blocks of _BLOCK, and for every subset of a block the union of the rules
    using one of its groups is tabulated once; a query is then one lookup per block.
    """
    tables: list[tuple[int, int, list[int]]] = []
    for start in range(0, len(uses), _BLOCK):
        size = min(_BLOCK, len(uses) - start)
        table = [0] * (1 << size)
        for subset in range(1, 1 << size):
            lowest = subset & -subset
            table[subset] = table[subset ^ lowest] | uses[start + lowest.bit_length() - 1]
        tables.append((start, (1 << size) - 1, table))
    return tables


def _redundancy(
    shapes: Sequence[_Shape],
    uses: Sequence[int],
    exactly: Sequence[Mapping[int, int]],
    by_total: Mapping[int, int],
    by_ceiling: Mapping[Decimal | None, int],
    single: int,
) -> list[tuple[int, LintFinding]]:
    """DUPLICATE_RULE and DOMINATED_RULE, with sets of rules as Python ints (bit j = shapes[j]).

    Rule a dominates b when it asks for no more than b in every group (so nothing outside b's
    groups), applies whenever b does, and is not single-signer where b is not (a JOINT_ONLY person
    may sign b but not a). With the same demand and the same ceiling, an earlier a makes b a duplicate.
    `uses[g]` are the rules asking for group g, `exactly[g][n]` those asking n of it, `single` the
    rules asking for one signer in all.
    """
    everyone = (1 << len(shapes)) - 1
    at_most: list[dict[int, int]] = []  # group -> demand -> rules asking at most that (0 included)
    for group, levels in enumerate(exactly):
        running = everyone & ~uses[group]
        cumulative = {}
        for needed in sorted(levels):
            running |= levels[needed]
            cumulative[needed] = running
        at_most.append(cumulative)
    # Rules that apply whenever a rule of this ceiling does: no ceiling, or one at least as high.
    applies_with: dict[Decimal | None, int] = {None: by_ceiling.get(None, 0)}
    running = applies_with[None]
    for ceiling in sorted((c for c in by_ceiling if c is not None), reverse=True):
        running |= by_ceiling[ceiling]
        applies_with[ceiling] = running
    tables = _users_outside(uses)

    found: list[tuple[int, LintFinding]] = []
    bit = 1
    for position, rule_id, demand, total, max_amount, mask in shapes:
        asking_less = everyone ^ bit
        for start, block, table in tables:
            asking_less &= ~table[~mask >> start & block]
        for group, needed in demand.items():
            asking_less &= at_most[group][needed]
        if asking_less:
            same = asking_less & by_total[total] & by_ceiling[max_amount]  # no more anywhere, same total: equal
            earlier = same & (bit - 1)
            if earlier:
                first = shapes[(earlier & -earlier).bit_length() - 1][1]
                found.append(
                    (
                        position,
                        LintFinding(
                            DUPLICATE_RULE,
                            f"A regra {rule_id} repete a regra {first}.",
                            (rule_id, first),
                        ),
                    )
                )
            else:
                dominating = asking_less & ~same & applies_with[max_amount]
                if total >= 2:
                    dominating &= ~single
                if dominating:
                    names = []
                    while dominating:
                        lowest = dominating & -dominating
                        names.append(shapes[lowest.bit_length() - 1][1])
                        dominating ^= lowest
                    found.append(
                        (
                            position,
                            LintFinding(
                                DOMINATED_RULE,
                                f"A regra {rule_id} nunca é necessária: quem a cumpre também cumpre {', '.join(names)}.",
                                (rule_id, *names),
                            ),
                        )
                    )
        bit <<= 1
    return found


def lint_rule_set(
    rules: Sequence[Rule],
    member_count: Mapping[str, int],
    duplicate_cpfs: Iterable[str] = (),
) -> list[LintFinding]:
    """Lint `rules` given how many distinct representatives each group has."""
    return lint_rule_rows(rule_rows(rules), member_count, duplicate_cpfs)


def lint_rule_rows(
    rules: Sequence[RuleRow],
    member_count: Mapping[str, int],
    duplicate_cpfs: Iterable[str] = (),
) -> list[LintFinding]:
    """`lint_rule_set` on rules already read by `rule_rows`."""
    findings: list[LintFinding] = [
        LintFinding(
            DUPLICATE_REPRESENTATIVE,
            "O mesmo CPF aparece mais de uma vez entre os representantes; as entradas foram unidas.",
            cpf=cpf,
        )
        for cpf in sorted(set(duplicate_cpfs))
    ]
    per_rule: list[tuple[int, LintFinding]] = []
    seen_ids: set[str] = set()
    missing_groups: dict[str, list[str]] = {}
    # What the redundancy check needs, gathered on the way (see _redundancy).
    shapes: list[_Shape] = []
    index_of: dict[str, int] = {}
    uses: list[int] = []
    exactly: list[dict[int, int]] = []
    by_total: dict[int, int] = {}
    by_ceiling: dict[Decimal | None, int] = {}
    single = 0
    for position, (rule_id, max_amount, requirements) in enumerate(rules):
        if rule_id in seen_ids:
            per_rule.append(
                (
                    position,
                    LintFinding(DUPLICATE_RULE_ID, f"Há mais de uma regra com o identificador {rule_id}.", (rule_id,)),
                )
            )
        else:
            seen_ids.add(rule_id)
        demand: dict[str, int] = {}
        for group, needed in requirements:
            if needed > 0:
                demand[group] = demand.get(group, 0) + needed
            else:
                per_rule.append(
                    (
                        position,
                        LintFinding(
                            NON_POSITIVE_MIN_SIGNERS,
                            f"A regra {rule_id} pede {needed} assinante(s) do grupo {group}.",
                            (rule_id,),
                            group,
                        ),
                    )
                )
        if not demand:
            per_rule.append(
                (
                    position,
                    LintFinding(
                        EMPTY_RULE, f"A regra {rule_id} não exige nenhum assinante e nunca é aceita.", (rule_id,)
                    ),
                )
            )
            continue
        bit = 1 << len(shapes)
        mask = total = 0
        by_index = {}
        for group, needed in demand.items():
            members = member_count.get(group, 0)
            if members == 0:
                missing_groups.setdefault(group, []).append(rule_id)
            elif needed > members:
                per_rule.append(
                    (
                        position,
                        LintFinding(
                            REQUIREMENT_EXCEEDS_GROUP,
                            f"A regra {rule_id} pede {needed} assinante(s) do grupo {group}, que só tem {members}.",
                            (rule_id,),
                            group,
                        ),
                    )
                )
            index = index_of.get(group)
            if index is None:
                index = index_of[group] = len(uses)
                uses.append(0)
                exactly.append({})
            by_index[index] = needed
            mask |= 1 << index
            total += needed
            uses[index] |= bit
            levels = exactly[index]
            levels[needed] = levels.get(needed, 0) | bit
        shapes.append((position, rule_id, by_index, total, max_amount, mask))
        by_total[total] = by_total.get(total, 0) | bit
        by_ceiling[max_amount] = by_ceiling.get(max_amount, 0) | bit
        if total < 2:
            single |= bit
    if shapes:
        per_rule.extend(_redundancy(shapes, uses, exactly, by_total, by_ceiling, single))
        per_rule.sort(key=_first)  # stable: within a rule, the order above
    findings.extend(finding for _, finding in per_rule)
    for group in sorted(missing_groups):
        rule_ids = tuple(dict.fromkeys(missing_groups[group]))
        findings.append(
            LintFinding(
                GROUP_WITHOUT_REPRESENTATIVES,
                f"Nenhum representante pertence ao grupo {group}, exigido por {', '.join(rule_ids)}.",
                rule_ids,
                group,
            )
        )
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
