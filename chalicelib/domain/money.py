"""Money as the contracts write it: a decimal string with two places, never a float."""

from __future__ import annotations

from decimal import Decimal


def format_amount(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"
