"""Request bodies parsed as JSON with limits, so hostile input answers 400 and never a 500.

The standard parser recurses once per nesting level (100,000 `[` raise RecursionError) and turns any run
of digits into an int (a 5,000-digit one raises ValueError past Python's int limit), both inside
`json.loads`, before any model sees the body. Here the nesting is measured first, without recursion, and
numbers are handed over as text and refused past a length no field of AME's needs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.entrypoints.problems import BadRequest

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _malformed(detail: str) -> BadRequest:
    return BadRequest(400, "MALFORMED_JSON", detail)


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, brackets inside strings not counted."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return text.count("[") + text.count("{")  # an upper bound, and within the limit: no scan needed
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _number(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise _malformed(f"número com mais de {MAX_NUMBER_CHARS} caracteres no corpo")
    return text


def _int(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    return float(_number(text))


def _constant(name: str) -> Any:
    raise _malformed(f"{name} não é um valor JSON")


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of `raw`, or BadRequest 400 MALFORMED_JSON saying what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError:
        raise _malformed("o corpo não é texto UTF-8") from None
    if not text.strip():
        raise _malformed("o corpo da requisição está vazio; envie um objeto JSON")
    if nesting_depth(text) > MAX_DEPTH:
        raise _malformed(f"o corpo aninha mais de {MAX_DEPTH} níveis de listas ou objetos")
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise _malformed(f"o corpo não é JSON válido: {exc}") from None
    except (RecursionError, ValueError) as exc:  # a last line: nothing of the parser's reaches a 500
        raise _malformed(f"o corpo não é JSON aceitável: {type(exc).__name__}") from None
