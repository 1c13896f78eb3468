"""Reading orders for a caller: one order, its history, and the portal's search with signed keyset cursors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.auth import AreaNotAllowed, Caller
from chalicelib.domain.documents import InvalidDocument, normalize_cnpj, normalize_cpf
from chalicelib.domain.errors import OrderNotFound, OrderValidationError
from chalicelib.domain.orders import DocumentError, FieldError, OrderStatus, StatusChange, StoredOrder
from chalicelib.domain.validation import field_errors, field_path
from chalicelib.services.order_views import OrderSummary
from chalicelib.services.ports import OrderChanges, OrderReader, OrderStamp

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
_CODE = r"^[A-Za-z0-9_.-]{1,64}$"
_ORDER_KEY_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def plausible_order_key(value: str) -> bool:
    return len(value) == 26 and set(value) <= _ORDER_KEY_CHARS


def normalize_document(value: str) -> str:
    """A CPF or a CNPJ, formatted or not; which one is told by its length once the punctuation is gone."""
    compact = "".join(ch for ch in value if ch not in ".-/ ").upper()
    try:
        return normalize_cpf(value) if len(compact) == 11 else normalize_cnpj(value)
    except InvalidDocument as exc:
        raise DocumentError(str(exc)) from None


def _not_an_instant() -> Any:
    raise ValueError("instante no formato ISO 8601 com fuso (por exemplo 2026-11-29T10:00:00Z)")


class SearchQuery(BaseModel):
    """Query parameters of GET /v1/orders; unknown parameters are refused, by name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    area_code: str | None = Field(None, pattern=_CODE, description="Área das ordens (uma das áreas do chamador).")
    status: OrderStatus | None = Field(None, description="Situação atual da ordem.")
    external_reference: str | None = Field(
        None, min_length=1, max_length=128, description="Referência externa informada na criação."
    )
    requester_document: str | None = Field(
        None, min_length=1, max_length=32, description="CPF ou CNPJ do requisitante, com ou sem formatação."
    )
    guarantor_document: str | None = Field(
        None, min_length=1, max_length=32, description="CPF ou CNPJ de um garantidor, com ou sem formatação."
    )
    created_from: datetime | None = Field(None, description="Criadas a partir deste instante (inclusive).")
    created_to: datetime | None = Field(None, description="Criadas antes deste instante (exclusive).")
    cursor: str | None = Field(
        None, min_length=1, max_length=512, description="Cursor opaco devolvido em `next_cursor` pela página anterior."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Tamanho da página (1 a 100).")

    @field_validator("requester_document", "guarantor_document")
    @classmethod
    def _document(cls, value: str | None) -> str | None:
        return None if value is None else normalize_document(value)

    @field_validator("created_from", "created_to", mode="before")
    @classmethod
    def _iso_instant(cls, value: Any) -> Any:
        # The document says an RFC 3339 date-time; pydantic alone would also read "0.5" as a Unix time.
        if value is None or isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else _not_an_instant()
        except ValueError:
            return _not_an_instant()

    @field_validator("created_from", "created_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("informe o fuso horário (por exemplo 2026-11-29T10:00:00Z)")
        return value

    def fingerprint(self, caller: Caller) -> str:
        """What a cursor is bound to: the caller and every filter (not the page size)."""
        filters = self.model_dump(mode="json", exclude={"cursor", "limit"})
        canonical = json.dumps({"c": caller.client_id, "a": sorted(caller.areas), "f": filters}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def parse_model(model: type[BaseModel], data: Any) -> Any:
    """Validate `data`; every problem becomes a FieldError naming the field or parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        for i, err in enumerate(exc.errors(include_url=False)):
            if isinstance((err.get("ctx") or {}).get("error"), DocumentError):
                # field_errors names a party's `document`; here the field itself is the document.
                errors[i] = errors[i].model_copy(update={"field": field_path(tuple(err["loc"]))})
        raise OrderValidationError(errors) from None


def parse_query(params: Mapping[str, Sequence[str]] | None) -> SearchQuery:
    params = params or {}
    repeated = [name for name, values in params.items() if len(values) > 1]
    if repeated:
        raise OrderValidationError(
            [
                FieldError(field=name, code="REPEATED_PARAMETER", message="informe o parâmetro uma vez só")
                for name in sorted(repeated)
            ]
        )
    query: SearchQuery = parse_model(SearchQuery, {name: values[0] for name, values in params.items() if values})
    return query


@dataclass(frozen=True)
class Position:
    """Where a page ends: the (created_at, order_key) of its last order, newest first."""

    created_at: datetime
    order_key: str


class CursorCodec:
    """Cursors are opaque and signed: a changed byte, another caller's or another filter's cursor is refused."""

    def __init__(self, secret: bytes):
        self._secret = secret

    @classmethod
    def from_secret(cls, secret: str | None) -> CursorCodec:
        return cls(secret.encode() if secret else os.urandom(32))

    def encode(self, position: Position, fingerprint: str) -> str:
        payload = json.dumps(
            {"t": position.created_at.astimezone(UTC).isoformat(), "k": position.order_key, "f": fingerprint},
            separators=(",", ":"),
        ).encode()
        return _b64(payload) + "." + _b64(self._sign(payload))

    def decode(self, cursor: str, fingerprint: str) -> Position:
        invalid = OrderValidationError(
            [
                FieldError(
                    field="cursor", code="INVALID_CURSOR", message="cursor inválido, adulterado ou de outra consulta"
                )
            ]
        )
        body, _, signature = cursor.partition(".")
        try:
            payload = _unb64(body)
            given = _unb64(signature)
        except ValueError:
            raise invalid from None
        if not hmac.compare_digest(given, self._sign(payload)):
            raise invalid
        try:
            data = json.loads(payload)
            created_at = datetime.fromisoformat(data["t"])
            order_key = data["k"]
            bound_to = data["f"]
        except (ValueError, KeyError, TypeError):
            raise invalid from None
        if bound_to != fingerprint or not isinstance(order_key, str) or created_at.tzinfo is None:
            raise invalid
        return Position(created_at, order_key)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 1024:
        raise ValueError("empty or oversized")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class OrderFilter:
    """What the store is asked: areas already narrowed to the caller's, plus the query's filters."""

    areas: tuple[str, ...]
    status: str | None = None
    external_reference: str | None = None
    requester_document: str | None = None
    guarantor_document: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class OrderStore(Protocol):
    def search(self, where: OrderFilter, after: Position | None, limit: int) -> list[OrderSummary]:
        """Up to `limit` orders matching `where`, newest first (created_at, order_key), strictly after `after`."""


class DeliveryReader(Protocol):
    def for_order(self, order_key: str) -> list[dict[str, Any]]:
        """The order's delivery rows (webhook, notifications, envelope-ready), as the delivery store keeps them."""


@dataclass(frozen=True)
class OrderDetail:
    """An order as a caller is shown it: the stored order and, once it has a verdict, its delivery rows."""

    order: StoredOrder
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True)
class SearchPage:
    items: list[OrderSummary]
    next_cursor: str | None
    limit: int


# How often a waiting read (`Prefer: wait`) re-reads the order although nobody announced a change, and the
# longest it waits: well inside API Gateway's 29 s and the API function's timeout, and one Lambda instance
# held per watching page at most that long.
WAIT_RECHECK_SECONDS = 1.0
MAX_WAIT_SECONDS = 10


class NoSignals:
    """Nobody announces changes: the wait is the re-read schedule alone."""

    def wait(self, timeout_seconds: float) -> bool:
        time.sleep(max(0.0, timeout_seconds))
        return False


NO_SIGNALS = NoSignals()


class OrderQueries:
    """Every read a caller makes goes through here, so tenancy is decided in one place."""

    def __init__(
        self,
        repository: OrderReader,
        store: OrderStore | None,
        cursors: CursorCodec,
        deliveries: DeliveryReader | None = None,
        changes: OrderChanges | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._repository, self._store, self._cursors = repository, store, cursors
        self._deliveries = deliveries
        self._changes = changes
        self._monotonic = monotonic

    def get(self, caller: Caller, order_key: str) -> StoredOrder:
        order = self._repository.get_order(order_key) if plausible_order_key(order_key) else None
        if order is None or not caller.serves(order.area_code):
            raise OrderNotFound(order_key)  # another area's order looks exactly like a missing one
        return order

    def detail(self, caller: Caller, order_key: str) -> OrderDetail:
        """The order and its deliveries; nothing is delivered before the verdict, so nothing is read then."""
        order = self.get(caller, order_key)
        if not order.status.terminal or self._deliveries is None:
            return OrderDetail(order, [])
        return OrderDetail(order, self._deliveries.for_order(order_key))

    def stamp(self, caller: Caller, order_key: str) -> OrderStamp:
        """The order's stamp (ports.OrderStamp), with the same tenancy as `get`."""
        stamp = self._repository.order_stamp(order_key) if plausible_order_key(order_key) else None
        if stamp is None or not caller.serves(stamp.area_code):
            raise OrderNotFound(order_key)
        return stamp

    def detail_once_changed(
        self,
        caller: Caller,
        order_key: str,
        unchanged: Callable[[OrderDetail], bool],
        wait_seconds: float,
        recheck_seconds: float = WAIT_RECHECK_SECONDS,
        same_stamp: Callable[[OrderStamp], bool] | None = None,
    ) -> tuple[OrderDetail | None, bool]:
        """(the detail, True) as soon as `unchanged(detail)` is false, or (the last detail read, False) once
        `wait_seconds` have passed without that. A status change wakes the wait at once; anything else
        that changes the detail (a delivery's progress) is seen at the next re-read, every
        `recheck_seconds`, which also covers an announcement that never came.

        `same_stamp`: whether a pending order's stamp is the one of the caller's representation. When it
        is, the order is not read in full (a stamp is one row): the detail is then None until a change."""
        deadline = self._monotonic() + max(0.0, wait_seconds)
        listening = self._changes.listen(order_key) if self._changes is not None else nullcontext(NO_SIGNALS)
        with listening as listener:  # before the first read: a change right after it still wakes the wait
            detail: OrderDetail | None = None
            announced = False
            while True:
                if announced or not self._stamp_unchanged(caller, order_key, same_stamp):
                    detail = self.detail(caller, order_key)
                    if not unchanged(detail):
                        return detail, True
                left = deadline - self._monotonic()
                if left <= 0:
                    return detail, False
                announced = listener.wait(min(left, recheck_seconds))

    def _stamp_unchanged(self, caller: Caller, order_key: str, same_stamp: Callable[[OrderStamp], bool] | None) -> bool:
        """True when a pending order's stamp says the caller's representation still holds. A terminal order
        is always read in full: its deliveries move without its stamp."""
        if same_stamp is None:
            return False
        stamp = self.stamp(caller, order_key)
        return not stamp.status.terminal and same_stamp(stamp)

    def history(self, caller: Caller, order_key: str) -> tuple[StoredOrder, list[StatusChange]]:
        order = self.get(caller, order_key)
        return order, self._repository.history(order_key)

    def search(self, caller: Caller, query: SearchQuery) -> SearchPage:
        if query.area_code is not None and not caller.serves(query.area_code):
            raise AreaNotAllowed(query.area_code)
        fingerprint = query.fingerprint(caller)
        after = self._cursors.decode(query.cursor, fingerprint) if query.cursor else None
        areas = (query.area_code,) if query.area_code else tuple(sorted(caller.areas))
        if not areas:
            return SearchPage([], None, query.limit)
        where = OrderFilter(
            areas=areas,
            status=query.status.value if query.status else None,
            external_reference=query.external_reference,
            requester_document=query.requester_document,
            guarantor_document=query.guarantor_document,
            created_from=query.created_from,
            created_to=query.created_to,
        )
        assert self._store is not None, "no order store configured"
        # One row more than asked tells whether a next page exists without a COUNT.
        rows = self._store.search(where, after, query.limit + 1)
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            last = items[-1]
            next_cursor = self._cursors.encode(Position(last.created_at, last.order_key), fingerprint)
        return SearchPage(items, next_cursor, query.limit)
