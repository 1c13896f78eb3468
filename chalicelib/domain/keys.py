"""Order keys: ULIDs (time-ordered, URL-safe, valid as Step Functions execution names)."""

from __future__ import annotations

from datetime import datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_order_key(now: datetime, entropy: bytes) -> str:
    """26 Crockford base32 characters: 48 bits of milliseconds then 80 bits of entropy."""
    if len(entropy) != 10:
        raise ValueError("entropy must be 10 bytes")
    millis = int(now.timestamp() * 1000)
    value = (millis << 80) | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
