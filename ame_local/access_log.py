"""Access log lines of the local stack's HTTP servers without query values or personal data.

A query string carries tokens (`?access_token=...`) and documents (`?guarantor_document=...`), and partner
paths carry CNPJs: the line keeps each parameter's name, and the path is masked like AME's JSON logs.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.observability import mask_text

_QUERY_VALUE = re.compile(r"([?&;][^=&;#\s]*=)[^&;#\s]*")


def redact_query_values(text: str) -> str:
    """`/v1/orders?status=X&access_token=abc` -> `/v1/orders?status=***&access_token=***`."""
    return _QUERY_VALUE.sub(r"\1***", text)


def access_line(format: str, *args: Any) -> str:
    """One access log line as http.server formats it, with query values and personal data masked."""
    try:
        line = format % args
    except (TypeError, ValueError):
        line = " ".join([format, *map(str, args)])
    return mask_text(redact_query_values(line))
