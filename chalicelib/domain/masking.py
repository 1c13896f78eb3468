"""How a CPF is shown wherever people read it: notifications' delivery history, logs, events' details."""

from __future__ import annotations


def mask_cpf(cpf: str) -> str:
    """The one masked CPF format (docs/contracts.md, "Personal data"): ***.***.***-25.

    Only the last two digits are kept, whether `cpf` came formatted (529.982.247-25) or not.
    """
    return "***.***.***-" + cpf[-2:]
