"""Signature orders: the request a product sends, statuses, and the stored order."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.documents import InvalidDocument, normalize_cnpj, normalize_cpf
from chalicelib.domain.money import format_amount  # noqa: F401  (part of this module's API)
from chalicelib.domain.text import SEGMENT_PATTERN, clean_text


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    QUORUM_MET = "QUORUM_MET"
    NO_QUORUM = "NO_QUORUM"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.QUORUM_MET, OrderStatus.NO_QUORUM, OrderStatus.FAILED})


class PersonType(StrEnum):
    PF = "PF"
    PJ = "PJ"


class PartyRole(StrEnum):
    REQUESTER = "REQUESTER"
    GUARANTOR = "GUARANTOR"


# A decimal string with at most 2 places: money never travels as a float (contracts).
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
_CODE = SEGMENT_PATTERN


# Validators are built on first use, not at import: a Lambda that never parses an order never pays.
_LAZY = ConfigDict(defer_build=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class PartyRequest(_Strict):
    person_type: PersonType
    document: str = Field(min_length=1, max_length=32)

    @model_validator(mode="after")
    def _normalise_document(self) -> PartyRequest:
        try:
            if self.person_type is PersonType.PF:
                self.document = normalize_cpf(self.document)
            else:
                self.document = normalize_cnpj(self.document)
        except InvalidDocument as exc:
            raise DocumentError(str(exc)) from None
        return self


class DocumentError(ValueError):
    """Raised inside PartyRequest validation; mapped to INVALID_DOCUMENT on field `document`."""


class DocumentRequest(_Strict):
    document_type: str = Field(pattern=_CODE)
    title: str = Field(min_length=1, max_length=200)

    @field_validator("title")
    @classmethod
    def _clean_title(cls, value: str) -> str:
        return clean_text(value)


class OrderRequest(_Strict):
    """The body of POST /v1/orders (docs/contracts.md §2)."""

    area_code: str = Field(pattern=_CODE)
    product_code: str = Field(pattern=_CODE)
    platform: str = Field(pattern=_CODE)
    signature_method: str = Field(pattern=_CODE)
    amount: Decimal
    requester: PartyRequest
    guarantors: list[PartyRequest] = Field(default_factory=list, max_length=50)
    documents: list[DocumentRequest] = Field(default_factory=list, max_length=100)
    external_reference: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_decimal_string(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("external_reference")
    @classmethod
    def _clean_reference(cls, value: str | None) -> str | None:
        return clean_text(value) if value is not None else None

    def parties(self) -> list[tuple[PartyRole, PartyRequest]]:
        return [(PartyRole.REQUESTER, self.requester)] + [(PartyRole.GUARANTOR, g) for g in self.guarantors]


class AmountError(ValueError):
    """Raised for an amount that is not a positive decimal string; mapped to INVALID_AMOUNT."""


def parse_amount(value: Any) -> Decimal:
    """Money travels as a positive decimal string with at most 2 places, never a float (contracts)."""
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise AmountError('valor deve ser texto decimal com até 2 casas, por exemplo "250000.00"')
    amount = Decimal(value)
    if amount <= 0:
        raise AmountError("valor deve ser maior que zero")
    return amount


class FieldError(BaseModel):
    """One entry of a problem document's `errors` list."""

    model_config = _LAZY

    field: str
    code: str
    message: str


class OrderParty(BaseModel):
    model_config = _LAZY

    position: int
    role: PartyRole
    person_type: PersonType
    document: str
    power_code: str | None = None


class OrderDraft(BaseModel):
    """Everything stored when an order is accepted."""

    model_config = _LAZY

    order_key: str
    created_by: str
    request: OrderRequest
    area_snapshot: dict[str, Any]
    parties: list[OrderParty]
    created_at: datetime
    idempotency_key: str | None = None
    request_hash: str | None = None


class StatusChange(BaseModel):
    model_config = _LAZY

    status: OrderStatus
    detail: str | None = None
    at: datetime


class StoredOrder(BaseModel):
    """An order as read back from the repository."""

    model_config = _LAZY

    order_key: str
    status: OrderStatus
    status_detail: str | None = None
    created_by: str
    area_code: str
    product_code: str
    platform: str
    signature_method: str
    amount: Decimal
    external_reference: str | None
    requester: OrderParty
    guarantors: list[OrderParty]
    documents: list[DocumentRequest]
    area_snapshot: dict[str, Any]
    result: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0
    processing_by: str | None = None  # the execution that owns a PROCESSING order
    redrive_count: int = 0  # times parked by "try again later" and re-driven
    first_failure_at: datetime | None = None
    next_attempt_at: datetime | None = None
    parked_on: str | None = None  # the partner a parked order waits for, when the failure named one

    @property
    def parked(self) -> bool:
        """PROCESSING but owned by no execution: waiting for a partner to come back."""
        return self.status is OrderStatus.PROCESSING and self.processing_by is None

    @property
    def parties(self) -> list[OrderParty]:
        return [self.requester, *self.guarantors]


# What the request says of the order that every copy of it (the stored row, StoredOrder, a search hit) holds
# as it is, under the same name.
REQUEST_TEXT_FIELDS = ("area_code", "product_code", "platform", "signature_method", "external_reference")


def stored_from_draft(draft: OrderDraft) -> StoredOrder:
    """The order exactly as create_order stores it, without reading it back."""
    request = draft.request
    return StoredOrder(
        order_key=draft.order_key,
        status=OrderStatus.RECEIVED,
        created_by=draft.created_by,
        **{name: getattr(request, name) for name in REQUEST_TEXT_FIELDS},
        amount=request.amount,
        requester=draft.parties[0],
        guarantors=draft.parties[1:],
        documents=request.documents,
        area_snapshot=draft.area_snapshot,
        created_at=draft.created_at,
        updated_at=draft.created_at,
    )
