"""Typed views of what partners answer (docs/contracts.md §1); parsing is lenient to additions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

# The partners the workflow asks about each party: each has a shared breaker, an order waiting for one is
# parked on it (and resumed when it is back), and analytics counts calls, errors and latency per each.
WORKFLOW_PARTNERS: tuple[str, ...] = ("poderes", "pessoas", "cadastro")


class _PartnerModel(BaseModel):
    # Partners may add fields (contracts: additions are fine); we ignore what we don't use.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class PowerCodes(_PartnerModel):
    requester: str
    guarantor: str


class AreaLimits(_PartnerModel):
    max_amount: Decimal
    max_guarantors: int
    max_documents: int


class WebhookSettings(_PartnerModel):
    url: str
    secret_ref: str


class AreaSettings(_PartnerModel):
    area_code: str
    name: str
    active: bool
    cost_center: str | None = None
    platforms: list[str]
    signature_methods: list[str]
    powers_check: bool
    operator_check: bool
    power_codes: PowerCodes
    limits: AreaLimits
    webhook: WebhookSettings | None = None


class DomainValue(_PartnerModel):
    key: str
    label: str
    active: bool


class DomainValues(_PartnerModel):
    domain: str
    values: list[DomainValue]

    def find(self, key: str) -> DomainValue | None:
        return next((v for v in self.values if v.key == key), None)


class Restriction(_PartnerModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    type: str
    amount: Decimal | None = None
    reason: str | None = None


class Representative(_PartnerModel):
    cpf: str
    groups: list[str]
    valid_from: date | None = None
    valid_until: date | None = None
    restrictions: list[Restriction] = []


class Requirement(_PartnerModel):
    group: str
    min_signers: int


class Rule(_PartnerModel):
    rule_id: str
    description: str = ""
    max_amount: Decimal | None = None
    requirements: list[Requirement]


class CompanyPowers(_PartnerModel):
    cnpj: str
    power_code: str
    representatives: list[Representative]
    rules: list[Rule]


class Person(_PartnerModel):
    cpf: str
    name: str
    email: str | None = None
    phone: str | None = None


class Operator(_PartnerModel):
    cpf: str
    operator_active: bool
    account_access: bool
