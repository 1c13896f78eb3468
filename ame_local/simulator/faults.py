"""Per-partner fault settings and the seeded dice that decide which call fails."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

PARTNERS = ("parametrizador", "dominios", "poderes", "pessoas", "cadastro", "notificacao")

DEFAULT_TIMEOUT_SLEEP_MS = 5000


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one partner.

    latency_ms is added to every call. Then one draw u in [0, 1) per call: u < error_rate answers 503;
    u < error_rate + timeout_rate sleeps timeout_sleep_ms before answering (the client gives up first).
    down answers 503 to every call — a partner that is up but refusing, not a closed port.
    """

    latency_ms: float = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    down: bool = False
    timeout_sleep_ms: float = DEFAULT_TIMEOUT_SLEEP_MS

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.timeout_sleep_ms < 0:
            raise ValueError("latency_ms and timeout_sleep_ms must be >= 0")
        for name in ("error_rate", "timeout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not isinstance(self.down, bool):
            raise ValueError("down must be true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "down":
                values[key] = value  # validated as a real bool: "false" must not turn a partner off
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values[key] = float(value)
            else:
                raise ValueError(f"{key} must be a number")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_FAULT = Fault()


@dataclass(frozen=True)
class Verdict:
    """What the fault layer decided for one call."""

    latency_s: float = 0.0
    outcome: str = "ok"  # "ok" | "error" | "timeout" | "down"
    timeout_sleep_s: float = 0.0


def check_partner(partner: str) -> str:
    if partner not in PARTNERS:
        raise ValueError(f"unknown partner {partner!r}; expected one of {', '.join(PARTNERS)}")
    return partner


class FaultInjector:
    """Thread-safe fault table; one RNG per partner so one partner's traffic never shifts another's dice."""

    def __init__(self, seed: int | str = 0) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self.reseed(seed)

    def reseed(self, seed: int | str) -> None:
        with self._lock:
            self._seed = seed
            # A str seed hashes the same way on every run (unlike hash()), so draws are reproducible.
            self._rngs = {p: random.Random(f"{seed}:{p}") for p in PARTNERS}

    def set(self, partner: str, fault: Fault) -> None:
        check_partner(partner)
        with self._lock:
            if fault == NO_FAULT:
                self._faults.pop(partner, None)
            else:
                self._faults[partner] = fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {p: self._faults.get(p, NO_FAULT).as_dict() for p in PARTNERS}

    def decide(self, partner: str) -> Verdict:
        with self._lock:
            fault = self._faults.get(partner, NO_FAULT)
            if fault == NO_FAULT:
                return Verdict()
            latency = fault.latency_ms / 1000.0
            if fault.down:
                return Verdict(latency, "down")
            if fault.error_rate == 0 and fault.timeout_rate == 0:
                return Verdict(latency)
            draw = self._rngs[partner].random()
        if draw < fault.error_rate:
            return Verdict(latency, "error")
        if draw < fault.error_rate + fault.timeout_rate:
            return Verdict(latency, "timeout", fault.timeout_sleep_ms / 1000.0)
        return Verdict(latency)


def parse_faults(data: Mapping[str, Any] | None) -> dict[str, Fault]:
    """{partner: {latency_ms, error_rate, timeout_rate, down, timeout_sleep_ms}} → {partner: Fault}."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError("faults must be an object keyed by partner name")
    parsed: dict[str, Fault] = {}
    for partner, settings in data.items():
        check_partner(partner)
        if isinstance(settings, Fault):
            parsed[partner] = settings
        elif isinstance(settings, Mapping):
            parsed[partner] = Fault.from_mapping(settings)
        else:
            raise ValueError(f"faults for {partner} must be an object")
    return parsed
