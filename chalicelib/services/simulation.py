"""What-if for the portal: the quorum engine's full evaluation of a company from live partner answers,
without creating an order.

A simulation looks people up (who may sign for a company, their names, restrictions), so it follows the
orders' tenancy: it names an area the caller serves (403 otherwise), and the power code asked of Poderes is
that area's (Parametrizador), never the caller's. Every simulation answered is recorded first
(SimulationJournal), and CPFs are masked unless the token has ame:personal-data:read (docs/security.md).
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.auth import SCOPE_PERSONAL_DATA, AreaNotAllowed, Caller
from chalicelib.domain.documents import InvalidDocument, normalize_cnpj, normalize_cpf
from chalicelib.domain.eligibility import inactive_reasons
from chalicelib.domain.errors import DependencyUnavailable, OrderValidationError
from chalicelib.domain.masking import mask_cpf
from chalicelib.domain.orders import DocumentError, FieldError, PartyRole, parse_amount
from chalicelib.domain.partners import AreaSettings
from chalicelib.domain.quorum import evaluate_party
from chalicelib.domain.restrictions import assess_restrictions
from chalicelib.domain.text import SEGMENT_PATTERN
from chalicelib.services.ports import (
    AreaDirectory,
    Clock,
    OperatorRegistry,
    PartnerError,
    PeopleDirectory,
    PowersDirectory,
    SimulationJournal,
    SimulationRecord,
)
from chalicelib.services.search import parse_model
from chalicelib.services.workflow import business_date

log = logging.getLogger(__name__)

_CODE = SEGMENT_PATTERN
MAX_UNAVAILABLE = 100


class SimulationRequest(BaseModel):
    """The body of POST /v1/quorum/simulations."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    area_code: str = Field(
        pattern=_CODE,
        description=(
            "Área que o chamador atende (uma das áreas do token; senão 403). O código do poder consultado no "
            "Poderes é o da configuração desta área no Parametrizador."
        ),
    )
    company: str = Field(min_length=1, max_length=32, description="CNPJ da empresa, com ou sem formatação.")
    role: PartyRole = Field(
        PartyRole.REQUESTER,
        description=(
            "Papel da empresa na ordem: REQUESTER usa o poder de requisitante da área (power_codes.requester), "
            "GUARANTOR o de garantidor (power_codes.guarantor)."
        ),
    )
    amount: Decimal = Field(description="Valor em reais, texto decimal com até 2 casas.")
    on: date | None = Field(None, alias="date", description="Data da avaliação; padrão: hoje (horário de Brasília).")
    platform: str | None = Field(
        None,
        pattern=_CODE,
        description=(
            "Plataforma da ordem, uma das plataformas da área; quando informada e a área pede operator_check, o "
            "Cadastro Único é consultado (operador ativo e acesso à conta)."
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


POWER_CODE_FIELD = "power_code"


class QuorumSimulator:
    def __init__(
        self,
        areas: AreaDirectory,
        powers: PowersDirectory,
        people: PeopleDirectory,
        operators: OperatorRegistry,
        journal: SimulationJournal,
        clock: Clock,
        executor: Executor,
    ):
        self._areas, self._powers, self._people, self._operators = areas, powers, people, operators
        self._journal, self._clock, self._executor = journal, clock, executor

    def simulate(self, caller: Caller, body: Any, request_id: str | None = None) -> dict[str, Any]:
        """The evaluation of `body` for `caller`; recorded before it is returned (a journal that cannot
        write fails the request: no personal-data lookup goes unrecorded)."""
        raw_area = body.get("area_code") if isinstance(body, dict) else None
        if isinstance(raw_area, str) and raw_area.strip() and not caller.serves(raw_area.strip()):
            # Before anything is validated or asked: a caller learns nothing about areas it does not serve.
            raise AreaNotAllowed(raw_area.strip())
        request = _parse(body)
        if not caller.serves(request.area_code):
            raise AreaNotAllowed(request.area_code)
        area = self._area(request.area_code)
        if request.platform is not None and request.platform not in area.platforms:
            raise OrderValidationError(
                [
                    FieldError(
                        field="platform",
                        code="PLATFORM_NOT_ALLOWED",
                        message=f"plataforma {request.platform} não permitida para a área",
                    )
                ]
            )
        power_code = area.power_codes.requester if request.role is PartyRole.REQUESTER else area.power_codes.guarantor
        platform = request.platform if area.operator_check else None
        on = request.on or business_date(self._clock.now())
        try:
            powers = self._powers.get_powers(request.company, power_code)
            representatives = powers.representatives if powers else []
            assessments = assess_restrictions(representatives, request.amount, on)
            everyone = sorted({r.cpf for r in representatives})
            unrestricted = sorted({cpf for cpf in everyone if not assessments[cpf].restricted})
            # Pessoas and Cadastro Único do not depend on each other: ask both at once.
            people_f = self._executor.submit(self._search_people, everyone)
            operators_f = (
                self._executor.submit(self._search_operators, request.company, platform, unrestricted)
                if platform
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
        full = SCOPE_PERSONAL_DATA in caller.scopes
        self._journal.record(
            SimulationRecord(
                simulated_at=self._clock.now(),
                client_id=caller.client_id,
                subject=caller.subject,
                area_code=request.area_code,
                company=request.company,
                role=request.role.value,
                power_code=power_code,
                amount=request.amount,
                evaluated_on=on,
                platform=request.platform,
                operator_check=platform is not None,
                unavailable_count=len(request.unavailable),
                quorum_met=evaluation.quorum_met,
                reason=evaluation.reason,
                personal_data=full,
                request_id=request_id,
            )
        )
        answer = {
            "area_code": request.area_code,
            "company": request.company,
            "role": request.role.value,
            "power_code": power_code,
            "platform": request.platform,
            "operator_check": platform is not None,
            "powers_found": powers is not None,
            "cpfs_masked": not full,
            **result,
        }
        return answer if full else masked_answer(answer)

    def _area(self, area_code: str) -> AreaSettings:
        try:
            area = self._areas.get_area(area_code)
        except PartnerError as exc:
            log.warning("simulation area unavailable", extra={"partner": exc.partner, "error": str(exc)})
            raise DependencyUnavailable(exc.partner, f"{exc.partner} não respondeu; tente novamente") from exc
        if area is None:
            raise OrderValidationError(
                [
                    FieldError(
                        field="area_code",
                        code="AREA_NOT_FOUND",
                        message=f"área {area_code} não existe no parametrizador",
                    )
                ]
            )
        if not area.active:
            raise OrderValidationError(
                [FieldError(field="area_code", code="AREA_INACTIVE", message=f"área {area_code} está inativa")]
            )
        return area

    def _search_people(self, cpfs: list[str]) -> dict[str, Any]:
        return {p.cpf: p for p in self._people.search(cpfs)} if cpfs else {}  # the client batches by 100

    def _search_operators(self, cnpj: str, platform: str, cpfs: list[str]) -> dict[str, Any]:
        return {o.cpf: o for o in self._operators.search(cnpj, platform, cpfs)} if cpfs else {}


def _parse(body: Any) -> SimulationRequest:
    """The request; a `power_code` is refused by name (the area's settings choose it: `role` picks which)."""
    refused: list[FieldError] = []
    if isinstance(body, dict) and POWER_CODE_FIELD in body:
        body = {k: v for k, v in body.items() if k != POWER_CODE_FIELD}
        refused.append(
            FieldError(
                field=POWER_CODE_FIELD,
                code="POWER_CODE_FROM_AREA",
                message=(
                    "o código do poder vem da configuração da área no Parametrizador; "
                    "informe role (REQUESTER ou GUARANTOR) em vez de power_code"
                ),
            )
        )
    try:
        request: SimulationRequest = parse_model(SimulationRequest, body if isinstance(body, dict) else {"": body})
    except OrderValidationError as exc:
        raise OrderValidationError(refused + exc.errors) from None
    if refused:
        raise OrderValidationError(refused)
    return request


def masked_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without full CPFs, as notifications show them (docs/security.md, "What-if simulations").

    Each participant keeps its name and shows `cpf` masked (***.***.***-25), plus a `ref` ("P1", "P2", ...)
    unique in this answer: two people can share a mask's last two digits, so every other place that names a
    person (signer sets, eligible and critical signers, shortfalls, unavailable, lint) carries the `ref`.
    A CPF that is no participant's (an `unavailable` one the caller sent) is shown masked.
    """
    refs = {p["cpf"]: f"P{i}" for i, p in enumerate(answer["participants"], start=1)}

    def ref(cpf: str) -> str:
        return refs.get(cpf) or mask_cpf(cpf)

    def refs_of(cpfs: list[str]) -> list[str]:
        return [ref(c) for c in cpfs]

    out = dict(answer)
    out["participants"] = [{**p, "cpf": mask_cpf(p["cpf"]), "ref": refs[p["cpf"]]} for p in answer["participants"]]
    out["signer_sets"] = [{**s, "cpfs": refs_of(s["cpfs"])} for s in answer["signer_sets"]]
    out["eligible_by_requirement"] = [
        {**e, "requirements": [{**r, "cpfs": refs_of(r["cpfs"])} for r in e["requirements"]]}
        for e in answer["eligible_by_requirement"]
    ]
    out["failed_rules"] = [
        {
            **f,
            "shortfalls": [
                {
                    **s,
                    "available": refs_of(s["available"]),
                    "would_help": [{**w, "cpf": ref(w["cpf"])} for w in s["would_help"]],
                }
                for s in f["shortfalls"]
            ],
        }
        for f in answer["failed_rules"]
    ]
    for key in ("critical_signers", "signers_to_notify", "unavailable"):
        out[key] = refs_of(answer[key])
    out["lint"] = [
        {**finding, "cpf": ref(finding["cpf"]) if finding.get("cpf") else None} for finding in answer["lint"]
    ]
    return out
