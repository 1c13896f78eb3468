"""What Pessoas and Cadastro Único found against each unrestricted representative: shared by the workflow
and the what-if simulation, so both judge people the same way."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from chalicelib.domain.partners import Operator, Representative
from chalicelib.domain.quorum_results import NO_ACCOUNT_ACCESS, NO_OPERATOR, NOT_FOUND
from chalicelib.domain.restrictions import RestrictionAssessment


def inactive_reasons(
    representatives: Iterable[Representative],
    assessments: Mapping[str, RestrictionAssessment],
    known_people: Collection[str],
    operators: Mapping[str, Operator] | None,
) -> dict[str, list[str]]:
    """Business rule: CPF -> why an unrestricted representative is not active (the restricted keep their
    restriction reasons and are not looked at).

    NOT_FOUND when Pessoas does not know him. When the area asks for the operator check (`operators` is
    Cadastro Único's answer by CPF, else None): NO_OPERATOR when he has no active operator (a CPF absent
    from `operators` has none), else NO_ACCOUNT_ACCESS when the operator has no access to the account.
    `known_people`: CPFs Pessoas answered.
    """
    inactive: dict[str, list[str]] = {}
    for rep in representatives:
        if rep.cpf in inactive or assessments[rep.cpf].restricted:
            continue
        reasons = []
        if rep.cpf not in known_people:
            reasons.append(NOT_FOUND)
        if operators is not None:
            operator = operators.get(rep.cpf)
            if operator is None or not operator.operator_active:
                reasons.append(NO_OPERATOR)
            elif not operator.account_access:
                reasons.append(NO_ACCOUNT_ACCESS)
        if reasons:
            inactive[rep.cpf] = reasons
    return inactive
