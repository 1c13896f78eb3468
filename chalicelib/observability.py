"""Logs, metrics and traces for AME behind one module: JSON logs with masked personal data, EMF metrics, X-Ray.

Everything heavy (Powertools, aws-xray-sdk) is imported on first use, so a function that logs little and
never traces pays nothing at cold start. Tracing and metrics switch themselves off outside Lambda, so the
same code runs under the local stack and the tests without a flag. X-Ray lives only here: aws-xray-sdk is
in maintenance mode, and a move to OpenTelemetry should touch this file alone.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from chalicelib.domain.masking import mask_cpf

SERVICE = "ame"
NAMESPACE = "AME"

# Metric names: the code emits them and infra/build_template.py builds alarms and the dashboard on them.
METRIC_ORDERS_RECEIVED = "OrdersReceived"  # dims: area
METRIC_VERDICTS = "Verdicts"  # dims: area, verdict (QUORUM_MET | NO_QUORUM | FAILED)
METRIC_WORKFLOW_FAILURES = "WorkflowTechnicalFailures"  # dims: (service only) - alarmed
METRIC_PARTNER_LATENCY = "PartnerLatency"  # dims: partner (milliseconds)
METRIC_PARTNER_ERRORS = "PartnerErrors"  # dims: partner, kind (transient | permanent)
METRIC_CACHE_HITS = "CacheHits"  # dims: cache
METRIC_CACHE_MISSES = "CacheMisses"  # dims: cache
METRIC_BREAKER_OPEN = "PartnerBreakerOpen"  # dims: partner; 1 open, 0 closed - alarmed
METRIC_DELIVERY_ATTEMPTS = "DeliveryAttempts"  # dims: channel (WEBHOOK | NOTIFICATION | ENVELOPE_READY), outcome
METRIC_RETENTION_PURGED = "RetentionRowsPurged"  # dims: table
METRIC_RETENTION_ANONYMISED = "RetentionRowsAnonymised"  # dims: table
METRIC_RETENTION_BACKLOG = "RetentionBacklog"  # dims: table (rows still eligible after the run)
METRIC_RETENTION_BACKLOG_TOTAL = "RetentionBacklogTotal"  # dims: (service only) - alarmed when it grows for days
# Gauges the operations report (a schedule, every minute) emits, so "open for N minutes" and "backlog
# growing" are alarmable: transitions alone leave gaps a CloudWatch alarm reads as "no data".
METRIC_PARKED_ORDERS = "ParkedOrders"  # dims: (service only); orders waiting for a partner - alarmed
METRIC_OLDEST_PARKED_AGE = "OldestParkedOrderAge"  # dims: (service only); seconds - alarmed

PARTNERS = ("parametrizador", "dominios", "poderes", "pessoas", "cadastro", "notificacao")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def in_lambda(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME"))


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """On in Lambda unless AWS_XRAY_SDK_ENABLED or POWERTOOLS_TRACE_DISABLED switches it off."""
    env = os.environ if environ is None else environ
    if not in_lambda(env):
        return False
    if env.get("AWS_XRAY_SDK_ENABLED", "").strip().lower() in _FALSE:
        return False
    return env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() not in _TRUE


def metrics_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """EMF lines only make sense where CloudWatch reads stdout: Lambda, unless POWERTOOLS_METRICS_DISABLED."""
    env = os.environ if environ is None else environ
    return in_lambda(env) and env.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() not in _TRUE


# ---------------------------------------------------------------------------------------------- masking

# Credentials first, so nothing of theirs is left for the patterns below to half-mask.
_BEARER = r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"
_JWT = r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
_WEBHOOK_SECRET = r"whsec_[A-Za-z0-9+/=_-]*"
_SECRET_PARAMETER = (
    r"(?i)((?:access_token|id_token|refresh_token|token|password|passwd|secret|api_key|apikey)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;}]+"
)
# RFC 5322's atext in the local part (hypothesis' emails() uses all of it).
_EMAIL = r"([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
# Brazilian phones: with the country code (+55 or 55), or with the area code in parentheses, or spelled
# "11 99999-0000". A bare 11-digit mobile number has a CPF's shape and is masked as one.
_PHONE = (
    r"(?<![\d+])(?:\+\s?55|55)[\s.-]?\(?\d{2}\)?[\s.-]?9?\d{4}[\s.-]?\d{4}(?!\d)"
    r"|(?<!\d)\(\d{2}\)[\s.-]?9?\d{4}[\s.-]?\d{4}(?!\d)"
    r"|(?<!\d)\d{2}[\s.]9?\d{4}-\d{4}(?!\d)"
)
# Documents are told apart from their neighbours by digits only: `cpf_52998224725` and `cpf52998224725x`
# are CPFs. A CNPJ spelled with letters cannot be told from its neighbours by shape, so a 14-character
# window is masked when it stands alone or when its check digits are right (lower case included).
_CNPJ_NUMERIC = r"(?<!\d)\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)"
_CNPJ_WINDOW = r"(?=([0-9A-Za-z]{2}\.?[0-9A-Za-z]{3}\.?[0-9A-Za-z]{3}/?[0-9A-Za-z]{4}-?\d{2})(?!\d))"
_CPF = r"(?<!\d)\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)"
_masks: tuple[Any, ...] | None = None


def _mask_patterns() -> tuple[Any, ...]:
    """The patterns, compiled on the first masked line rather than at import: every function's first
    call imports this module, and only the JSON log formatter (in Lambda) masks."""
    global _masks
    if _masks is None:
        _masks = tuple(
            re.compile(p)
            for p in (
                _BEARER,
                _JWT,
                _WEBHOOK_SECRET,
                _SECRET_PARAMETER,
                _EMAIL,
                _PHONE,
                _CNPJ_NUMERIC,
                _CNPJ_WINDOW,
                _CPF,
            )
        )
    return _masks


def _cpf_mask(match: Any) -> str:
    return mask_cpf(match.group(0))


def _cnpj_mask(match: Any) -> str:
    return "*" * 12 + match.group(0)[-2:]


def _mask_alphanumeric_cnpj(text: str, window: Any) -> str:
    from stdnum.br import cnpj as _cnpj

    spans: list[tuple[int, int]] = []
    for match in window.finditer(text):
        start, end = match.start(1), match.end(1)
        candidate = match.group(1)
        alone = (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
        if alone or _cnpj.is_valid(re.sub(r"[./-]", "", candidate).upper()):
            if spans and start < spans[-1][1]:  # overlapping windows are masked as one
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    for start, end in reversed(spans):  # right to left: earlier spans keep their offsets
        text = text[:start] + "*" * (12 if end - start <= 18 else end - start - 2) + text[end - 2 : end] + text[end:]
    return text


def mask_text(text: str) -> str:
    """Credentials (Bearer tokens, JWTs, whsec_ secrets, token/password parameters) removed; CPF, CNPJ,
    e-mail and Brazilian phone numbers in free text masked, the last 2 characters of documents kept."""
    if not text:
        return text
    bearer, jwt, webhook_secret, secret_parameter, email, phone, cnpj, cnpj_window, cpf = _mask_patterns()
    text = bearer.sub(r"\1***", text)
    text = jwt.sub("***", text)
    text = webhook_secret.sub("whsec_***", text)
    text = secret_parameter.sub(r"\1***", text)
    text = email.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = phone.sub("+55*********", text)
    text = cnpj.sub(_cnpj_mask, text)
    if any(c.isalpha() for c in text):
        text = _mask_alphanumeric_cnpj(text, cnpj_window)
    return cpf.sub(_cpf_mask, text)


# Keys whose values are identifiers we produce; never personal data, and masking them would hide them.
_SAFE_KEYS = frozenset(
    {
        "order_key",
        "execution_arn",
        "request_id",
        "function_request_id",
        "api_request_id",
        "xray_trace_id",
        "timestamp",
        "level",
        "location",
        "service",
        "function_arn",
        "function_name",
        "function_memory_size",
        "cold_start",
        "sampling_rate",
    }
)


def mask_value(value: Any, _depth: int = 0) -> Any:
    """Masks strings, 11/14-digit integers and, recursively, the values of dicts, lists and tuples."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or _depth > 8:
        return value
    if isinstance(value, int):
        return mask_text(str(value)) if len(str(abs(value))) in (11, 14) else value
    if isinstance(value, Mapping):
        return {k: (v if k in _SAFE_KEYS else mask_value(v, _depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask_value(v, _depth + 1) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- logging

_order_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("ame_order_key", default=None)
_area: contextvars.ContextVar[str | None] = contextvars.ContextVar("ame_area", default=None)
_logger_lock = threading.Lock()
_logger: Any = None


def _masking_formatter_class() -> type:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class MaskingFormatter(LambdaPowertoolsFormatter):
        """Powertools' JSON formatter with CPF/CNPJ/e-mail/phone masked in the message and every extra."""

        def serialize(self, log: Any) -> str:
            return super().serialize(log=mask_value(log))

    return MaskingFormatter


def get_logger(stream: Any = None) -> Any:
    """The service's Powertools Logger (built once); `stream` is for tests that read the lines back."""
    global _logger
    if _logger is None or stream is not None:
        from aws_lambda_powertools import Logger

        built = Logger(
            service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
            logger_formatter=_masking_formatter_class()(utc=True, use_rfc3339=True),
            logger_handler=logging.StreamHandler(stream) if stream is not None else None,
        )
        if stream is not None:
            return built
        with _logger_lock:
            if _logger is None:
                _logger = built
    return _logger


def configure_logging(force: bool = False) -> None:
    """Routes the stdlib loggers (logging.getLogger(__name__) across chalicelib) into the JSON handler.

    Only in Lambda (or with force=True): elsewhere the local stack and pytest keep their own handlers.
    """
    if not (force or in_lambda()):
        return
    logger = get_logger()
    handler = logger.registered_handler
    root = logging.getLogger()
    if handler in root.handlers:
        return
    # Lambda's runtime installs its own plain-text root handler; replacing it avoids double lines.
    root.handlers = [handler]
    root.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())


def bind_order(order_key: str | None, area: str | None = None, execution_arn: str | None = None) -> None:
    """From here on every log line, trace annotation and partner metric of this invocation names the order."""
    _order_key.set(order_key)
    if area is not None:
        _area.set(area)
    keys = {k: v for k, v in (("order_key", order_key), ("area", area), ("execution_arn", execution_arn)) if v}
    if keys and _logger is not None:
        _logger.append_keys(**keys)


def bind_request(request_id: str | None, **extra: Any) -> None:
    keys = {"request_id": request_id, **extra}
    if _logger is not None:
        _logger.append_keys(**{k: v for k, v in keys.items() if v is not None})


def clear_context() -> None:
    """Forget the order and request of the previous invocation (Lambda reuses the process)."""
    _order_key.set(None)
    _area.set(None)
    if _logger is not None:
        _logger.remove_keys(["order_key", "area", "execution_arn", "request_id"])


def current_order_key() -> str | None:
    return _order_key.get()


# ---------------------------------------------------------------------------------------------- metrics


# Whoever else wants every metric as it is emitted: the local stack's Prometheus endpoint (ame_local/metrics.py)
# registers here, so /metrics shows exactly the figures the EMF lines carry in Lambda.
MetricObserver = Callable[[str, float, str, Mapping[str, str]], None]
_metric_observers: list[MetricObserver] = []


def add_metric_observer(observer: MetricObserver) -> Callable[[], None]:
    """`observer(name, value, unit, dimensions)` is called for every metric, in Lambda or not; returns the
    function that unregisters it. An observer that raises is logged and never breaks the caller."""
    _metric_observers.append(observer)

    def remove() -> None:
        if observer in _metric_observers:
            _metric_observers.remove(observer)

    return remove


def emit_metric(name: str, value: float = 1, unit: str = "Count", **dimensions: str | None) -> bool:
    """One EMF line with its own dimensions (plus service), and the same figure to every registered
    observer. The EMF line is a no-op outside Lambda; True when it was emitted."""
    dims = {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE)}
    dims.update({k: str(v) for k, v in dimensions.items() if v is not None})
    for observer in tuple(_metric_observers):
        try:
            observer(name, value, unit, dims)
        except Exception:
            logging.getLogger(__name__).warning("metric observer failed on %s", name, exc_info=True)
    if not metrics_enabled():
        return False
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name,
        unit=MetricUnit[unit],
        value=value,
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE),
        default_dimensions=dims,
    ):
        pass
    return True


def record_order_received(area: str) -> bool:
    return emit_metric(METRIC_ORDERS_RECEIVED, area=area)


def record_verdict(verdict: str, area: str) -> bool:
    return emit_metric(METRIC_VERDICTS, area=area, verdict=verdict)


def record_workflow_failure() -> bool:
    return emit_metric(METRIC_WORKFLOW_FAILURES)


def record_partner_call(partner: str, latency_ms: float, error_kind: str | None = None) -> bool:
    emitted = emit_metric(METRIC_PARTNER_LATENCY, latency_ms, "Milliseconds", partner=partner)
    if error_kind is not None:
        emit_metric(METRIC_PARTNER_ERRORS, partner=partner, kind=error_kind)
    return emitted


def record_cache(cache: str, hit: bool) -> bool:
    return emit_metric(METRIC_CACHE_HITS if hit else METRIC_CACHE_MISSES, cache=cache)


def record_breaker_state(partner: str, is_open: bool) -> bool:
    return emit_metric(METRIC_BREAKER_OPEN, 1 if is_open else 0, partner=partner)


def record_delivery_attempt(channel: str, outcome: str) -> bool:
    return emit_metric(METRIC_DELIVERY_ATTEMPTS, channel=channel, outcome=outcome)


def record_parked_backlog(parked: int, oldest_age_seconds: int) -> bool:
    emitted = emit_metric(METRIC_PARKED_ORDERS, parked)
    emit_metric(METRIC_OLDEST_PARKED_AGE, oldest_age_seconds, "Seconds")
    return emitted


# ---------------------------------------------------------------------------------------------- tracing

_patched = False
_patch_lock = threading.Lock()


def patch_libraries() -> bool:
    """Subsegments for every requests/botocore/pymysql call; once, and only when tracing is on."""
    global _patched
    if _patched or not tracing_enabled():
        return False
    with _patch_lock:
        if not _patched:
            from aws_xray_sdk.core import patch  # type: ignore[import-untyped]

            patch(("requests", "botocore", "pymysql"))
            _patched = True
    return True


@contextmanager
def subsegment(name: str, **annotations: Any) -> Iterator[Any]:
    """An X-Ray subsegment annotated with the bound order key/area plus `annotations`; no-op when off."""
    if not tracing_enabled():
        yield None
        return
    from aws_xray_sdk.core import xray_recorder

    with xray_recorder.in_subsegment(name) as sub:
        if sub is not None:
            merged = {"order_key": _order_key.get(), "area": _area.get(), **annotations}
            for key, value in merged.items():
                if isinstance(value, (str, int, float, bool)):
                    sub.put_annotation(key, value)
        yield sub


def traced(name: str, **annotations: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of `subsegment`."""
    from functools import wraps

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with subsegment(name, **annotations):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def _error_kind(exc: BaseException) -> str:
    # Partner clients raise typed errors; the name is enough to tell transient from permanent.
    return (
        "transient"
        if any("Unavailable" in c.__name__ or "Transient" in c.__name__ for c in type(exc).__mro__)
        else "permanent"
    )


@contextmanager
def partner_call(partner: str, operation: str = "") -> Iterator[Any]:
    """Around one partner HTTP call: subsegment `partner.<name>`, latency metric, error metric by kind."""
    started = time.perf_counter()
    error_kind: str | None = None
    try:
        with subsegment(f"partner.{partner}", partner=partner, operation=operation or None) as sub:
            yield sub
    except BaseException as exc:
        error_kind = _error_kind(exc)
        raise
    finally:
        latency_ms = (time.perf_counter() - started) * 1000
        record_partner_call(partner, latency_ms, error_kind)
        _tally_partner_call(partner, latency_ms, error_kind is not None)


# Partner calls per order for analytics (docs/analytics.md): tallied while an invocation runs with an order
# bound, written with the workflow task's own write (partner_calls_for) or else once when the invocation
# ends (flush_partner_calls, one small transaction).
_partner_tally: contextvars.ContextVar[dict[str, list[int]] | None] = contextvars.ContextVar(
    "ame_partner_tally", default=None
)


def _tally_partner_call(partner: str, latency_ms: float, failed: bool) -> None:
    if _order_key.get() is None:
        return
    tally = _partner_tally.get()
    if tally is None:
        tally = {}
        _partner_tally.set(tally)
    entry = tally.setdefault(partner, [0, 0, 0])
    entry[0] += 1
    entry[1] += 1 if failed else 0
    entry[2] += int(round(latency_ms))


PartnerCallSink = Callable[[str, dict[str, tuple[int, int, int]]], None]
_partner_call_sink: Callable[[], PartnerCallSink] | None = None


def set_partner_call_sink(provider: Callable[[], PartnerCallSink] | None) -> None:
    """The composition root registers where tallies go (its analytics ledger); observability never imports it."""
    global _partner_call_sink
    _partner_call_sink = provider


def flush_partner_calls(sink: PartnerCallSink | None = None) -> bool:
    """Hands this invocation's tally to `sink` (default: the registered ledger); never raises."""
    tally, order_key = _partner_tally.get(), _order_key.get()
    _partner_tally.set(None)
    if not tally or not order_key:
        return False
    try:
        if sink is None:
            if _partner_call_sink is None:
                return False
            sink = _partner_call_sink()
        sink(order_key, {p: (c, e, ms) for p, (c, e, ms) in tally.items()})
        return True
    except Exception:
        logging.getLogger(__name__).warning("could not record partner calls for analytics", exc_info=True)
        return False


@contextmanager
def partner_calls_for(order_key: str) -> Iterator[dict[str, tuple[int, int, int]] | None]:
    """This invocation's partner-call tally, for a store that writes it inside a transaction it commits anyway
    (a workflow task's own write), so the middleware's flush has no transaction of its own to open. None when
    nothing was tallied for `order_key`. What the block yields is taken from the tally only when the block
    ends normally; when it raises (nothing committed), the tally stays for the middleware's flush."""
    tally = _partner_tally.get()
    if not tally or _order_key.get() != order_key:
        yield None
        return
    taken = {partner: (calls, errors, ms) for partner, (calls, errors, ms) in tally.items()}
    yield taken
    for partner, (calls, errors, ms) in taken.items():
        entry = tally[partner]
        entry[0], entry[1], entry[2] = entry[0] - calls, entry[1] - errors, entry[2] - ms
        if entry == [0, 0, 0]:
            del tally[partner]


def db_transaction(name: str) -> Any:
    """Around one database transaction: subsegment `db.<name>` annotated with the order key and area."""
    return subsegment(f"db.{name}") if tracing_enabled() else nullcontext()


# ---------------------------------------------------------------------------------------------- middleware


def _payload_value(payload: Any, key: str) -> str | None:
    value = payload.get(key) if isinstance(payload, Mapping) else None
    return value if isinstance(value, str) else None


def chalice_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Register with `app.register_middleware(chalice_middleware, "all")`.

    Sets up JSON logging and library patching on first use, binds the request id and, for workflow
    tasks, the order key and execution ARN that the state machine passes in, then clears them.
    """
    configure_logging()
    patch_libraries()
    context = getattr(event, "context", None)
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(context, Mapping):  # an HTTP request: API Gateway's own request id
        request_id = context.get("requestId")
    payload = getattr(event, "event", None)
    order_key = _payload_value(payload, "order_key")
    try:
        bind_request(request_id)
        if order_key:
            bind_order(order_key, execution_arn=_payload_value(payload, "execution_id"))
        return get_response(event)
    finally:
        flush_partner_calls()
        clear_context()


def record_retention(result: Any) -> bool:
    """The purge job's run (chalicelib/services/retention.py RunResult): rows per table, and the backlog."""
    if not getattr(result, "ran", False):
        return False
    emitted = False
    for table, rows in sorted(result.purged.items()):
        emitted = emit_metric(METRIC_RETENTION_PURGED, rows, table=table) or emitted
    for table, rows in sorted(result.anonymised.items()):
        emitted = emit_metric(METRIC_RETENTION_ANONYMISED, rows, table=table) or emitted
    for table, rows in sorted(result.backlog.items()):
        emit_metric(METRIC_RETENTION_BACKLOG, rows, table=table)
    return emit_metric(METRIC_RETENTION_BACKLOG_TOTAL, sum(result.backlog.values())) or emitted
