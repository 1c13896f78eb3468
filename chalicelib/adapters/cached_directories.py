"""Area settings and domain values behind a TTL cache, so warm requests skip the partners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.observability import record_cache
from chalicelib.services.ports import AreaDirectory, Cache, DomainDirectory

M = TypeVar("M", bound=BaseModel)


class CachedLookup(Generic[M]):
    """One partner lookup by name behind the cache. Caches found values only: an area created a minute
    ago must not be refused for a whole TTL. A TTL of 0 turns the cache off."""

    def __init__(
        self,
        fetch: Callable[[str], M | None],
        model: type[M],
        cache: Cache,
        ttl_seconds: float,
        key_prefix: str,
        metric: str,
    ) -> None:
        self._fetch, self._model, self._cache, self._ttl = fetch, model, cache, ttl_seconds
        self._prefix, self._metric = key_prefix, metric

    def lookup(self, name: str) -> M | None:
        key = f"{self._prefix}:{name}"
        if self._ttl > 0:
            cached = self._cache.get_json(key)
            record_cache(self._metric, cached is not None)
            if cached is not None:
                return self._model.model_validate(cached)
        found = self._fetch(name)
        if found is not None and self._ttl > 0:
            self._cache.set_json(key, found.model_dump(mode="json"), self._ttl)
        return found


class CachedAreaDirectory(CachedLookup[AreaSettings]):
    """The AreaDirectory port, cached (keys `area:<code>`, metric `areas`)."""

    def __init__(self, inner: AreaDirectory, cache: Cache, ttl_seconds: float) -> None:
        super().__init__(inner.get_area, AreaSettings, cache, ttl_seconds, "area", "areas")

    def get_area(self, area_code: str) -> AreaSettings | None:
        return self.lookup(area_code)


class CachedDomainDirectory(CachedLookup[DomainValues]):
    """The DomainDirectory port, cached (keys `domain:<name>`, metric `domains`)."""

    def __init__(self, inner: DomainDirectory, cache: Cache, ttl_seconds: float) -> None:
        super().__init__(inner.get_domain, DomainValues, cache, ttl_seconds, "domain", "domains")

    def get_domain(self, name: str) -> DomainValues | None:
        return self.lookup(name)
