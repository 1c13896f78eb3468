"""Area settings and domain values behind a TTL cache, so warm requests skip the partners."""
from __future__ import annotations

from chalicelib.domain.partners import AreaSettings, DomainValues
from chalicelib.observability import record_cache
from chalicelib.services.ports import AreaDirectory, Cache, DomainDirectory


class CachedAreaDirectory:
    """Caches found areas only: an area created a minute ago must not be refused for a whole TTL."""

    def __init__(self, inner: AreaDirectory, cache: Cache, ttl_seconds: float):
        self._inner, self._cache, self._ttl = inner, cache, ttl_seconds

    def get_area(self, area_code: str) -> AreaSettings | None:
        key = f"area:{area_code}"
        if self._ttl > 0:
            cached = self._cache.get_json(key)
            record_cache("areas", cached is not None)
            if cached is not None:
                return AreaSettings.model_validate(cached)
        area = self._inner.get_area(area_code)
        if area is not None and self._ttl > 0:
            self._cache.set_json(key, area.model_dump(mode="json"), self._ttl)
        return area


class CachedDomainDirectory:
    def __init__(self, inner: DomainDirectory, cache: Cache, ttl_seconds: float):
        self._inner, self._cache, self._ttl = inner, cache, ttl_seconds

    def get_domain(self, name: str) -> DomainValues | None:
        key = f"domain:{name}"
        if self._ttl > 0:
            cached = self._cache.get_json(key)
            record_cache("domains", cached is not None)
            if cached is not None:
                return DomainValues.model_validate(cached)
        values = self._inner.get_domain(name)
        if values is not None and self._ttl > 0:
            self._cache.set_json(key, values.model_dump(mode="json"), self._ttl)
        return values
