"""What-if for the portal: the quorum engine's full evaluation of a company from live partner answers,
without creating an order."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.documents import InvalidDocument, normalize_cnpj, normalize_cpf
from chalicelib.domain.eligibility import inactive_reasons
from chalicelib.domain.errors import DependencyUnavailable
from chalicelib.domain.orders import DocumentError, parse_amount
from chalicelib.domain.quorum import evaluate_party
from chalicelib.domain.restrictions import assess_restrictions
from chalicelib.domain.text import SEGMENT_PATTERN
from chalicelib.services.ports import Clock, OperatorRegistry, PartnerError, PeopleDirectory, PowersDirectory
from chalicelib.services.search import parse_model
from chalicelib.services.workflow import business_date

log = logging.getLogger(__name__)

_CODE = SEGMENT_PATTERN
MAX_UNAVAILABLE = 100


class SimulationRequest(BaseModel):
    """The body of POST /v1/quorum/simulations."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    company: str = Field(min_length=1, max_length=32, description="CNPJ da empresa, com ou sem formatação.")
    power_code: str = Field(pattern=_CODE, description="Código do poder no Poderes (por exemplo ASSINAR_CCB).")
    amount: Decimal = Field(description="Valor em reais, texto decimal com até 2 casas.")
    on: date | None = Field(None, alias="date", description="Data da avaliação; padrão: hoje (horário de Brasília).")
    platform: str | None = Field(
        None,
        pattern=_CODE,
        description=(
            "Plataforma da ordem; quando informada, o Cadastro Único é consultado (operador ativo e acesso à conta)."
        ),
    )
    unavailable: list[str] = Field(
        default_factory=list, max_length=MAX_UNAVAILABLE, description="CPFs a tratar como impedidos de assinar."
    )

    @field_validator("company")
    @classmethod
    def _cnpj(cls, value: str) -> str:
        try:
            return normalize_cnpj(value)
        except InvalidDocument as exc:
            raise DocumentError(str(exc)) from None

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("on", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # The document says a "YYYY-MM-DD" string; pydantic alone would also take 0 as 1970-01-01.
        if value is not None and not isinstance(value, str):
            raise ValueError("data no formato AAAA-MM-DD")
        return value

    @field_validator("unavailable")
    @classmethod
    def _cpfs(cls, values: list[str]) -> list[str]:
        try:
            return sorted({normalize_cpf(v) for v in values})
        except InvalidDocument as exc:
            raise DocumentError(str(exc)) from None


class QuorumSimulator:
    def __init__(
        self,
        powers: PowersDirectory,
        people: PeopleDirectory,
        operators: OperatorRegistry,
        clock: Clock,
        executor: Executor,
    ):
        self._powers, self._people, self._operators = powers, people, operators
        self._clock, self._executor = clock, executor

    def simulate(self, body: Any) -> dict[str, Any]:
        request: SimulationRequest = parse_model(SimulationRequest, body if isinstance(body, dict) else {"": body})
        on = request.on or business_date(self._clock.now())
        try:
            powers = self._powers.get_powers(request.company, request.power_code)
            representatives = powers.representatives if powers else []
            assessments = assess_restrictions(representatives, request.amount, on)
            everyone = sorted({r.cpf for r in representatives})
            unrestricted = sorted({cpf for cpf in everyone if not assessments[cpf].restricted})
            # Pessoas and Cadastro Único do not depend on each other: ask both at once.
            people_f = self._executor.submit(self._search_people, everyone)
            operators_f = (
                self._executor.submit(self._search_operators, request.company, request.platform, unrestricted)
                if request.platform
                else None
            )
            people = people_f.result()
            operators = operators_f.result() if operators_f is not None else None
        except PartnerError as exc:
            log.warning("simulation partner unavailable", extra={"partner": exc.partner, "error": str(exc)})
            raise DependencyUnavailable(exc.partner, f"{exc.partner} não respondeu; tente novamente") from exc
        inactive = inactive_reasons(representatives, assessments, people.keys(), operators)
        evaluation = evaluate_party(powers, request.amount, on, inactive=inactive, unavailable=request.unavailable)
        result = evaluation.to_dict()
        for participant in result["participants"]:
            person = people.get(participant["cpf"])
            participant["name"] = person.name if person else None
        return {
            "company": request.company,
            "power_code": request.power_code,
            "platform": request.platform,
            "operator_check": request.platform is not None,
            "powers_found": powers is not None,
            **result,
        }

    def _search_people(self, cpfs: list[str]) -> dict[str, Any]:
        return {p.cpf: p for p in self._people.search(cpfs)} if cpfs else {}  # the client batches by 100

    def _search_operators(self, cnpj: str, platform: str, cpfs: list[str]) -> dict[str, Any]:
        return {o.cpf: o for o in self._operators.search(cnpj, platform, cpfs)} if cpfs else {}
