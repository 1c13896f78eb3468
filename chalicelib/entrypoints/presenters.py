"""Shape stored orders into the answers of the order routes: the models of services/order_views.py, dumped
as JSON (the OpenAPI document is generated from the same models)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.domain.money import format_amount
from chalicelib.domain.orders import REQUEST_TEXT_FIELDS
from chalicelib.services.order_views import Order, OrderHistory, OrderPage, instant

if TYPE_CHECKING:
    from chalicelib.domain.orders import OrderParty, StoredOrder
    from chalicelib.services.search import SearchPage


def _party(party: OrderParty) -> dict[str, Any]:
    return {"person_type": party.person_type.value, "document": party.document}


def _common(order: StoredOrder) -> dict[str, Any]:
    return {
        "order_key": order.order_key,
        **{name: getattr(order, name) for name in REQUEST_TEXT_FIELDS},
        "amount": format_amount(order.amount),
        "requester": _party(order.requester),
        "guarantors": [_party(g) for g in order.guarantors],
        "documents": [d.model_dump() for d in order.documents],
        "created_by": order.created_by,
        "created_at": order.created_at,
    }


def accepted_view(order: StoredOrder) -> dict[str, Any]:
    """The 202 answer. Built only from what never changes, so an idempotent replay is the same answer."""
    return Order(**_common(order), status="RECEIVED", updated_at=order.created_at, result=None).model_dump(
        mode="json", exclude_unset=True
    )


def order_view(order: StoredOrder, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """`deliveries`: the order's delivery rows (OrderQueries.detail reads them)."""
    return Order(
        **_common(order),
        status=order.status,
        status_detail=order.status_detail,
        updated_at=order.updated_at,
        result=order.result if order.status.terminal else None,
        deliveries=_deliveries_view(order, deliveries),
    ).model_dump(mode="json", exclude_unset=True)


def _delivery_item(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    at = row.get("delivered_at")
    last = row.get("last_attempt_at")
    return {
        "status": row.get("status", "PENDING"),
        "delivered": row.get("status") == "DELIVERED",
        "delivered_at": instant(at) if at else None,
        "attempts": row.get("attempts", 0),
        "last_attempt_at": instant(last) if last else None,
        "last_error": row.get("last_error"),
    }


def _notification_item(order_key: str, row: dict[str, Any]) -> dict[str, Any]:
    channel, cpf = row["channel"].split(":", 1)  # "EMAIL:<cpf>"
    return {"notification_id": f"{order_key}:{cpf}:{channel}", "channel": channel, "cpf": cpf, **_delivery_item(row)}


def _deliveries_view(order: StoredOrder, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per channel: webhook (null when the area has none), each notification, envelope-ready (null
    unless the order has quorum). Null as a whole before the verdict."""
    if not order.status.terminal:
        return None
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    has_webhook = bool(((order.area_snapshot or {}).get("webhook") or {}).get("url"))
    webhook = by_kind.get("WEBHOOK", [None])[0]
    ready = by_kind.get("ENVELOPE_READY", [None])[0]
    quorum = order.status.value == "QUORUM_MET"
    return {
        "webhook": {**_delivery_item(webhook), "url": (webhook or {}).get("target")}
        if has_webhook or webhook
        else None,
        "notifications": [_notification_item(order.order_key, row) for row in by_kind.get("NOTIFICATION", [])],
        "envelope_ready": _delivery_item(ready) if quorum or ready else None,
    }


def page_view(page: SearchPage) -> dict[str, Any]:
    """Items (OrderSummary) newest first and the cursor of the next page (null on the last one)."""
    return OrderPage(items=page.items, next_cursor=page.next_cursor, limit=page.limit).model_dump(mode="json")


def history_view(order: StoredOrder, changes: list[Any]) -> dict[str, Any]:
    return OrderHistory(
        order_key=order.order_key,
        status=order.status,
        history=[{"status": c.status, "detail": c.detail, "at": c.at} for c in changes],
        links={"self": f"/v1/orders/{order.order_key}/history", "order": f"/v1/orders/{order.order_key}"},
    ).model_dump(mode="json")
