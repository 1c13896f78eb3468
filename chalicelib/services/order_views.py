"""How AME shows an order: the answer models of the order routes, written once.

The order queries return them (a search hit is an OrderSummary), the presenters dump them, and the OpenAPI
document (chalicelib/openapi.py) is generated from them, so the document cannot drift from the answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, computed_field, model_validator

from chalicelib.domain.orders import AMOUNT_PATTERN, OrderStatus, PersonType


def instant(value: datetime) -> str:
    """UTC, to the second, with a Z: `2026-11-29T10:00:02Z`."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


Instant = Annotated[
    datetime, PlainSerializer(instant, return_type=str), WithJsonSchema({"type": "string", "format": "date-time"})
]


class _Answer(BaseModel):
    # Answers may grow fields (clients ignore what they do not know), so extras are allowed and kept.
    model_config = ConfigDict(extra="allow")


class Party(_Answer):
    person_type: PersonType
    document: str


class Document(_Answer):
    document_type: str
    title: str


class OrderLinks(_Answer):
    self: str


class VerdictParticipant(_Answer):
    """A person the party's verdict tells of (docs/contracts.md §2): why he may or may not sign."""

    cpf: str
    name: str | None = None
    groups: list[str]
    restricted: bool
    active: bool
    reasons: list[str]


class SignerSet(_Answer):
    """A minimal set of CPFs that satisfies one rule."""

    rule_id: str
    cpfs: list[str]


# Added to the verdict after the first orders were stored: a stored verdict without them reads as empty.
_LATER_VERDICT_LISTS = ("critical_signers", "failed_rules", "skipped_rules")


class PartyVerdict(_Answer):
    """One party's verdict inside `Order.result.parties` (docs/contracts.md §2). `critical_signers`,
    `failed_rules` and `skipped_rules` are empty for PF parties and for orders stored before they existed."""

    role: str
    person_type: PersonType
    document: str
    power_code: str | None
    quorum_met: bool
    reason: str | None
    participants: list[VerdictParticipant]
    satisfied_rules: list[str]
    signer_sets: list[SignerSet]
    eligible_signers: list[str]
    critical_signers: list[str] = []
    failed_rules: list[dict[str, Any]] = []
    skipped_rules: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _older_verdicts_read_as_empty(cls, data: Any) -> Any:
        # Set, not merely defaulted, so that answers dumped with exclude_unset still carry them.
        if isinstance(data, dict) and not all(name in data for name in _LATER_VERDICT_LISTS):
            data = {**{name: [] for name in _LATER_VERDICT_LISTS}, **data}
        return data


class TechnicalFailure(_Answer):
    """Why a FAILED order failed: the error that outlived every retry."""

    error: str
    message: str


class OrderResult(_Answer):
    """The verdict: the order has quorum when every party has. `failure` only on FAILED orders."""

    quorum_met: bool
    parties: list[PartyVerdict]
    failure: TechnicalFailure | None = None


class OrderSummary(_Answer):
    """One search hit: what the portal's list shows, with a link to the full order."""

    order_key: str
    status: OrderStatus
    area_code: str
    product_code: str
    platform: str
    signature_method: str
    amount: str = Field(pattern=AMOUNT_PATTERN)
    external_reference: str | None
    requester: Party
    created_by: str
    created_at: Instant
    updated_at: Instant

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> OrderLinks:
        return OrderLinks(self=f"/v1/orders/{self.order_key}")


class Order(OrderSummary):
    """An order as AME shows it: a summary's fields and these. `result` is null until a terminal status;
    `deliveries` (once read) says, per channel, what was delivered."""

    status_detail: str | None = None
    guarantors: list[Party]
    documents: list[Document]
    result: OrderResult | None


class OrderPage(_Answer):
    """Newest first. `next_cursor` is null on the last page; pass it back as `cursor` for the next one."""

    items: list[OrderSummary]
    next_cursor: str | None
    limit: int


class StatusChangeView(_Answer):
    status: OrderStatus
    detail: str | None
    at: Instant


class HistoryLinks(_Answer):
    self: str
    order: str


class OrderHistory(_Answer):
    order_key: str
    status: OrderStatus
    history: list[StatusChangeView]
    links: HistoryLinks
