"""What Pessoas and Cadastro Único found against each unrestricted representative: shared by the workflow
and the what-if simulation, so both judge people the same way."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from chalicelib.domain.partners import Operator, Representative
from chalicelib.domain.quorum import NO_ACCOUNT_ACCESS, NO_OPERATOR, NOT_FOUND
from chalicelib.domain.restrictions import RestrictionAssessment


def inactive_reasons(
    representatives: Iterable[Representative],
    assessments: Mapping[str, RestrictionAssessment],
    known_people: Collection[str],
    operators: Mapping[str, Operator] | None,
) -> dict[str, list[str]]:
    """CPF -> reasons, for unrestricted representatives only (the restricted keep their restriction reasons).

    `known_people`: CPFs Pessoas answered. `operators`: Cadastro Único's answer by CPF, or None when the
    area does not ask for the operator check. A CPF absent from `operators` has no operator.
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
