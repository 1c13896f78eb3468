"""`GET /metrics` of the local stack: the figures AME's EMF metrics carry in Lambda, in Prometheus'
text format (prometheus-client, a local-only dependency: never in the Lambda package).

Every metric goes through `chalicelib.observability.emit_metric`, which hands it to its observers as well
as to CloudWatch; this module is such an observer, so a local Prometheus or Grafana sees the same
partner latency, errors, breaker states and verdicts the CloudWatch dashboard shows. Names follow
Prometheus' conventions (seconds, `_total`), with the EMF name in each help text.

Calls per order: a partner call made while an order is bound is counted for that order, and the counts
go into `ame_partner_calls_per_order` when the order's verdict is recorded (the verdict is emitted
inside the order's own invocation).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chalicelib import observability as obs

METRICS_PATH = "/metrics"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_CALLS_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)
_OPEN_ORDERS_KEPT = 10_000  # orders with calls and no verdict yet; the oldest are forgotten past this


class PrometheusMetrics:
    """One registry per stack; `observe` is the observability hook, `answer` serves /metrics."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.partner_latency = Histogram(
            "ame_partner_latency_seconds",
            f"Latency of each partner call ({obs.METRIC_PARTNER_LATENCY}); p50/p95/p99 by histogram_quantile",
            ["partner"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.partner_errors = Counter(
            "ame_partner_errors",
            f"Failed partner calls by kind ({obs.METRIC_PARTNER_ERRORS})",
            ["partner", "kind"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "ame_partner_breaker_open",
            f"1 while the partner's breaker is open ({obs.METRIC_BREAKER_OPEN})",
            ["partner"],
            registry=r,
        )
        self.calls_per_order = Histogram(
            "ame_partner_calls_per_order",
            "Calls to each partner an order needed until its verdict",
            ["partner"],
            buckets=_CALLS_BUCKETS,
            registry=r,
        )
        self.orders_received = Counter(
            "ame_orders_received", f"Orders accepted ({obs.METRIC_ORDERS_RECEIVED})", ["area"], registry=r
        )
        self.verdicts = Counter(
            "ame_verdicts", f"Orders concluded ({obs.METRIC_VERDICTS})", ["area", "verdict"], registry=r
        )
        self.workflow_failures = Counter(
            "ame_workflow_technical_failures", f"Orders ended FAILED ({obs.METRIC_WORKFLOW_FAILURES})", registry=r
        )
        self.cache_lookups = Counter(
            "ame_cache_lookups",
            f"Cache lookups ({obs.METRIC_CACHE_HITS}, {obs.METRIC_CACHE_MISSES})",
            ["cache", "outcome"],
            registry=r,
        )
        self.delivery_attempts = Counter(
            "ame_delivery_attempts",
            f"Result deliveries ({obs.METRIC_DELIVERY_ATTEMPTS})",
            ["channel", "outcome"],
            registry=r,
        )
        self.parked_orders = Gauge(
            "ame_parked_orders", f"Orders parked waiting for a partner ({obs.METRIC_PARKED_ORDERS})", registry=r
        )
        self.oldest_parked_age = Gauge(
            "ame_oldest_parked_order_age_seconds",
            f"Age of the oldest parked order ({obs.METRIC_OLDEST_PARKED_AGE})",
            registry=r,
        )
        self._lock = threading.Lock()
        self._calls_by_order: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._handlers: dict[str, Callable[[float, Mapping[str, str]], None]] = {
            obs.METRIC_PARTNER_LATENCY: self._partner_call,
            obs.METRIC_PARTNER_ERRORS: lambda v, d: self.partner_errors.labels(d["partner"], d["kind"]).inc(v),
            obs.METRIC_BREAKER_OPEN: lambda v, d: self.breaker_open.labels(d["partner"]).set(v),
            obs.METRIC_ORDERS_RECEIVED: lambda v, d: self.orders_received.labels(d.get("area", "")).inc(v),
            obs.METRIC_VERDICTS: self._verdict,
            obs.METRIC_WORKFLOW_FAILURES: lambda v, d: self.workflow_failures.inc(v),
            obs.METRIC_CACHE_HITS: lambda v, d: self.cache_lookups.labels(d.get("cache", ""), "hit").inc(v),
            obs.METRIC_CACHE_MISSES: lambda v, d: self.cache_lookups.labels(d.get("cache", ""), "miss").inc(v),
            obs.METRIC_DELIVERY_ATTEMPTS: lambda v, d: self.delivery_attempts.labels(
                d.get("channel", ""), d.get("outcome", "")
            ).inc(v),
            obs.METRIC_PARKED_ORDERS: lambda v, d: self.parked_orders.set(v),
            obs.METRIC_OLDEST_PARKED_AGE: lambda v, d: self.oldest_parked_age.set(v),
        }

    # -- the observability hook ----------------------------------------------------------------
    def observe(self, name: str, value: float, unit: str, dimensions: Mapping[str, str]) -> None:
        handler = self._handlers.get(name)
        if handler is not None:
            handler(value, dimensions)

    def _partner_call(self, latency_ms: float, dims: Mapping[str, str]) -> None:
        partner = dims["partner"]
        self.partner_latency.labels(partner).observe(latency_ms / 1000)
        order_key = obs.current_order_key()
        if order_key is None:
            return
        with self._lock:
            calls = self._calls_by_order.setdefault(order_key, {})
            calls[partner] = calls.get(partner, 0) + 1
            self._calls_by_order.move_to_end(order_key)
            while len(self._calls_by_order) > _OPEN_ORDERS_KEPT:
                self._calls_by_order.popitem(last=False)

    def _verdict(self, value: float, dims: Mapping[str, str]) -> None:
        self.verdicts.labels(dims.get("area", ""), dims.get("verdict", "")).inc(value)
        order_key = obs.current_order_key()
        with self._lock:
            calls = self._calls_by_order.pop(order_key, None) if order_key else None
        for partner, count in sorted((calls or {}).items()):
            self.calls_per_order.labels(partner).observe(count)

    # -- GET /metrics ----------------------------------------------------------------------------
    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def answer(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """A LocalSites handler (ame_local/portal_site.py) for /metrics."""
        if path != METRICS_PATH:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found"
        if method not in ("GET", "HEAD"):
            return 405, {"Content-Type": "text/plain; charset=utf-8", "Allow": "GET, HEAD"}, b"GET only"
        return 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}, self.exposition()


def start(sites: Any) -> Callable[[], None]:
    """Mount /metrics on the stack's `sites` and register the observer; returns what undoes the registration."""
    metrics = PrometheusMetrics()
    sites.mount(METRICS_PATH, metrics.answer)
    return obs.add_metric_observer(metrics.observe)
