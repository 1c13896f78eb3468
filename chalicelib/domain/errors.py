"""Domain and service errors; entrypoints map them to HTTP problems or named task errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type hints only: importing the order models is the app's dearest import
    from chalicelib.domain.orders import FieldError


class AmeError(Exception):
    """Base of every error AME raises on purpose."""


class OrderValidationError(AmeError):
    """The request is invalid; `errors` names each field (422)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


class IdempotencyConflict(AmeError):
    """The Idempotency-Key was used before with another body (409)."""


class DependencyUnavailable(AmeError):
    """A partner needed to answer now could not (503 with Retry-After)."""

    def __init__(self, partner: str, message: str = ""):
        super().__init__(message or f"{partner} indisponível")
        self.partner = partner


class OrderNotFound(AmeError):
    """No order with that key visible to this caller (404)."""


class AreaNotFound(AmeError):
    """No active area with that code among the caller's areas (404; docs/contracts.md §2)."""

    def __init__(self, area_code: str):
        super().__init__(area_code)
        self.area_code = area_code


class RateLimited(AmeError):
    """The caller used up its allowance for this action (429 with Retry-After); nothing was done."""

    def __init__(self, client_id: str, action: str, retry_after_header: str):
        super().__init__(f"{client_id}: {action}")
        self.client_id = client_id
        self.action = action
        self.retry_after_header = retry_after_header
