"""Shape stored orders into the JSON of contracts §2."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from chalicelib.domain.orders import OrderParty, StoredOrder, format_amount


def instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _party(party: OrderParty) -> dict[str, Any]:
    return {"person_type": party.person_type.value, "document": party.document}


def _common(order: StoredOrder) -> dict[str, Any]:
    return {
        "order_key": order.order_key,
        "area_code": order.area_code,
        "product_code": order.product_code,
        "platform": order.platform,
        "signature_method": order.signature_method,
        "amount": format_amount(order.amount),
        "external_reference": order.external_reference,
        "requester": _party(order.requester),
        "guarantors": [_party(g) for g in order.guarantors],
        "documents": [d.model_dump() for d in order.documents],
        "created_by": order.created_by,
        "created_at": instant(order.created_at),
    }


def accepted_view(order: StoredOrder) -> dict[str, Any]:
    """The 202 answer. Built only from what never changes, so an idempotent replay is the same answer."""
    return {
        **_common(order),
        "status": "RECEIVED",
        "updated_at": instant(order.created_at),
        "result": None,
        "links": {"self": f"/v1/orders/{order.order_key}"},
    }


def order_view(order: StoredOrder) -> dict[str, Any]:
    return {
        **_common(order),
        "status": order.status.value,
        "status_detail": order.status_detail,
        "updated_at": instant(order.updated_at),
        "result": order.result if order.status.terminal else None,
        "links": {"self": f"/v1/orders/{order.order_key}"},
    }
