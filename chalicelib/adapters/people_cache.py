"""Pessoas behind a per-CPF cache: fresh answers skip the call, stale ones are served while Pessoas is down.

Only contact data comes from Pessoas, so a slightly old name or email is acceptable when the partner is
unavailable; Poderes and Cadastro Único decide who may sign and are never served stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.partners import Person
from chalicelib.services.ports import PartnerUnavailable, PeopleDirectory

log = logging.getLogger(__name__)


class CacheCounters:
    """Hits, misses and stale serves since start (also emitted as metrics by the caller's observer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = self.misses = self.stale_served = 0

    def add(self, hits: int = 0, misses: int = 0, stale: int = 0) -> None:
        with self._lock:
            self.hits += hits
            self.misses += misses
            self.stale_served += stale

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "stale_served": self.stale_served}


class CachedPeopleDirectory:
    def __init__(
        self,
        inner: PeopleDirectory,
        cache: Any,
        fresh_seconds: float,
        stale_seconds: float,
        clock: Callable[[], float] = time.time,
        counters: CacheCounters | None = None,
        on_cache: Callable[[bool], Any] | None = None,
    ):
        self._inner = inner
        self._cache = cache
        self._fresh = fresh_seconds
        self._keep = max(stale_seconds, fresh_seconds)
        self._clock = clock
        self.counters = counters or CacheCounters()
        self._on_cache = on_cache or (lambda hit: None)

    @staticmethod
    def _key(cpf: str) -> str:
        return f"person:{cpf}"

    def search(self, cpfs: list[str]) -> list[Person]:
        wanted = list(dict.fromkeys(cpfs))
        now = self._clock()
        entries = dict(zip(wanted, self._cache.get_many_json([self._key(c) for c in wanted]))) if wanted else {}
        fresh = {c: e for c, e in entries.items() if e is not None and now - e["fetched_at"] < self._fresh}
        missing = [c for c in wanted if c not in fresh]
        self.counters.add(hits=len(fresh), misses=len(missing))
        for _ in fresh:
            self._on_cache(True)
        answers: dict[str, Any] = {c: e["person"] for c, e in fresh.items()}
        if missing:
            try:
                found = {p.cpf: p for p in self._inner.search(missing)}
            except PartnerUnavailable:
                stale = {c: entries[c] for c in missing if entries.get(c) is not None}
                if len(stale) < len(missing):
                    raise
                self.counters.add(stale=len(stale))
                log.warning("Pessoas unavailable: serving %d cached answers", len(stale))
                answers.update({c: e["person"] for c, e in stale.items()})
            else:
                for _ in missing:
                    self._on_cache(False)
                # An unknown CPF is an answer too: cached as None, so a retry does not ask again.
                records = {
                    self._key(c): {
                        "fetched_at": now,
                        "person": found[c].model_dump(mode="json") if c in found else None,
                    }
                    for c in missing
                }
                self._cache.set_many_json(records, self._keep)
                answers.update({c: (found[c].model_dump(mode="json") if c in found else None) for c in missing})
        return [Person.model_validate(answers[c]) for c in wanted if answers.get(c) is not None]
