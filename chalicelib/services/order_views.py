"""How AME shows an order: the answer models of the order routes, written once.

The order queries return them (a search hit is an OrderSummary), the presenters dump them, and the OpenAPI
document (chalicelib/openapi.py) is generated from them, so the document cannot drift from the answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, computed_field

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
    result: dict[str, Any] | None


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
