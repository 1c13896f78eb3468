"""Example bodies of AME's API as plain dicts: the OpenAPI document shows them, and tests and benches send them.

No imports on purpose: a bench's measured process or a test may use them without loading the OpenAPI code.
"""

from __future__ import annotations

ORDER_REQUEST_EXAMPLE = {
    "area_code": "CREDITO_PJ",
    "product_code": "CCB_GIRO",
    "platform": "BANKLINE",
    "signature_method": "DIGITAL",
    "amount": "250000.00",
    "requester": {"person_type": "PJ", "document": "11.222.333/0001-81"},
    "guarantors": [{"person_type": "PF", "document": "529.982.247-25"}],
    "documents": [{"document_type": "CCB", "title": "Contrato CCB 123"}],
    "external_reference": "contrato-123",
}


def order_request(**changes: object) -> dict:
    """A fresh copy of ORDER_REQUEST_EXAMPLE (nested values too) with top-level `changes` applied."""
    body = {key: _copy(value) for key, value in ORDER_REQUEST_EXAMPLE.items()}
    body.update(changes)
    return body


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
