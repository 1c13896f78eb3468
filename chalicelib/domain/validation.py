"""Turn pydantic validation errors into the problem document's field errors (docs/contracts.md §2)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib.domain.orders import AmountError, DocumentError, FieldError
from chalicelib.domain.text import InvalidCharacters

_CODES: dict[str, tuple[str, str]] = {
    "missing": ("REQUIRED", "campo obrigatório"),
    "extra_forbidden": ("UNKNOWN_FIELD", "campo não reconhecido"),
    "string_pattern_mismatch": ("INVALID_FORMAT", "formato inválido"),
    "string_too_short": ("INVALID_LENGTH", "texto curto demais"),
    "string_too_long": ("INVALID_LENGTH", "texto longo demais"),
    "too_long": ("TOO_MANY_ITEMS", "itens demais"),
    "too_short": ("TOO_FEW_ITEMS", "itens de menos"),
    "enum": ("INVALID_VALUE", "valor não permitido"),
    "literal_error": ("INVALID_VALUE", "valor não permitido"),
}


def field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One FieldError per problem, in pydantic's (deterministic) order."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, DocumentError):
            out.append(FieldError(field=field_path(loc + ("document",)), code="INVALID_DOCUMENT", message=str(cause)))
            continue
        if isinstance(cause, InvalidCharacters):
            out.append(FieldError(field=field_path(loc), code="INVALID_CHARACTERS", message=str(cause)))
            continue
        if isinstance(cause, AmountError):
            out.append(FieldError(field=field_path(loc), code="INVALID_AMOUNT", message=str(cause)))
            continue
        code, message = _CODES.get(
            kind,
            (
                "INVALID_TYPE" if kind.endswith("_type") or kind.endswith("_parsing") else "INVALID_VALUE",
                "valor inválido",
            ),
        )
        detail = err.get("msg", "")
        out.append(FieldError(field=field_path(loc), code=code, message=f"{message} ({detail})" if detail else message))
    return out
