"""CPF and CNPJ (numeric and alphanumeric): normalisation and check digits (masking: masking.py)."""

from __future__ import annotations

import re

from stdnum.br import cnpj as _cnpj
from stdnum.br import cpf as _cpf

_SEPARATORS = re.compile(r"[\s./-]")
_CPF_SHAPE = re.compile(r"^[0-9]{11}$")
_CNPJ_SHAPE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")


class InvalidDocument(ValueError):
    """A CPF or CNPJ that is malformed or whose check digits are wrong."""


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def normalize_cpf(value: str) -> str:
    """Return the 11 digits of a valid CPF (formatted input accepted) or raise InvalidDocument."""
    digits = _compact(value)
    # Repeated digits (111.111.111-11) pass the arithmetic but are never issued.
    if not _CPF_SHAPE.match(digits) or len(set(digits)) == 1 or not _cpf.is_valid(digits):
        raise InvalidDocument("CPF inválido: formato ou dígitos verificadores incorretos")
    return digits


def normalize_cnpj(value: str) -> str:
    """Return the 14 characters of a valid CNPJ, alphanumeric included, or raise InvalidDocument."""
    chars = _compact(value)
    if not _CNPJ_SHAPE.match(chars) or len(set(chars)) == 1 or not _cnpj.is_valid(chars):
        raise InvalidDocument("CNPJ inválido: formato ou dígitos verificadores incorretos")
    return chars


def is_valid_cpf(value: str) -> bool:
    try:
        normalize_cpf(value)
    except InvalidDocument:
        return False
    return True


def is_valid_cnpj(value: str) -> bool:
    try:
        normalize_cnpj(value)
    except InvalidDocument:
        return False
    return True
