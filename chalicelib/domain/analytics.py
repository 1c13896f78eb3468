"""Analytics rules: the star schema's columns, fact rows built from stored orders, the daily roll-up, insights.

Pure: the adapters hand in rows read from the database and get back columns, roll-up rows and answers.
The column lists below are the one definition of the exported files; the Parquet writer and the Glue
tables are both built from them (docs/analytics.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.insights import InsightsDay
from chalicelib.domain.partners import WORKFLOW_PARTNERS

# -- the files' columns: (name, type); types are Glue/Athena names, mapped to Arrow by the writer --------

PARTNERS = WORKFLOW_PARTNERS

FACT_ORDERS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_key", "string"),
    ("area_code", "string"),
    ("created_at", "timestamp"),
    ("created_date", "date"),
    ("status", "string"),
    ("platform", "string"),
    ("signature_method", "string"),
    ("product_code", "string"),
    ("requester_id", "string"),
    ("requester_type", "string"),
    ("participants", "int"),
    ("guarantors", "int"),
    ("quorum_met", "boolean"),
    ("failure_reason", "string"),
    ("amount_band", "string"),
    ("verdict_ms", "bigint"),
    ("partner_calls", "int"),
    ("partner_errors", "int"),
    ("partner_latency_ms", "bigint"),
    *(
        (f"{partner}_{measure}", kind)
        for partner in PARTNERS
        for measure, kind in (("calls", "int"), ("errors", "int"), ("latency_ms", "bigint"))
    ),
    ("retries", "int"),
    ("times_parked", "int"),
    ("state_transitions", "int"),
    ("estimated_cost_usd", "double"),
    ("updated_at", "timestamp"),
)

EXCLUSION_REASONS: tuple[str, ...] = (
    "MAX_AMOUNT",
    "BLOCKED",
    "EXPIRED",
    "NOT_YET_VALID",
    "UNKNOWN_RESTRICTION",
    "NO_OPERATOR",
    "NO_ACCOUNT_ACCESS",
    "NOT_FOUND",
)

FACT_PARTY_OUTCOMES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_key", "string"),
    ("area_code", "string"),
    ("position", "int"),
    ("role", "string"),
    ("person_type", "string"),
    ("quorum_met", "boolean"),
    ("reason_code", "string"),
    ("participants", "int"),
    ("rules_applicable", "int"),
    ("rules_satisfied", "int"),
    *((f"excluded_{r.lower()}", "int") for r in EXCLUSION_REASONS),
)

DIMENSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "dim_area": (("area_code", "string"), ("name", "string"), ("cost_center", "string")),
    "dim_platform": (("platform", "string"), ("platform_type", "string")),
    "dim_signature_method": (("signature_method", "string"), ("method_type", "string")),
    "dim_status": (("status", "string"), ("description", "string"), ("terminal", "boolean")),
    "dim_product": (("product_code", "string"), ("name", "string")),
    "dim_date": (
        ("date_key", "date"),
        ("year", "int"),
        ("quarter", "int"),
        ("month", "int"),
        ("day", "int"),
        ("weekday", "int"),
        ("iso_week", "int"),
    ),
}

FACTS: dict[str, tuple[tuple[str, str], ...]] = {
    "fact_orders": FACT_ORDERS_COLUMNS,
    "fact_party_outcomes": FACT_PARTY_OUTCOMES_COLUMNS,
}

PARTITION_COLUMN = "dt"

STATUS_DESCRIPTIONS = {
    "RECEIVED": ("Recebida", False),
    "PROCESSING": ("Em processamento", False),
    "QUORUM_MET": ("Quórum atingido", True),
    "NO_QUORUM": ("Sem quórum", True),
    "FAILED": ("Falha técnica", True),
}

REASON_DESCRIPTIONS = {
    "NO_REPRESENTATIVES": "Empresa sem representantes cadastrados para o poder",
    "ALL_RESTRICTED": "Todos os representantes têm ressalvas",
    "NO_ACTIVE_OPERATOR": "Nenhum representante com operador ativo e acesso à conta",
    "NO_RULE_SATISFIED": "Nenhum agrupamento pode ser atendido",
    "PERSON_NOT_FOUND": "Pessoa não encontrada",
    "TECHNICAL_FAILURE": "Falha técnica após todas as tentativas",
}

# How a channel reaches the customer; unknown platforms are "OTHER".
PLATFORM_TYPES = {"BANKLINE": "INTERNET_BANKING", "MOBILE": "MOBILE_APP", "AGENCIA": "BRANCH", "PORTAL": "WEB_PORTAL"}
SIGNATURE_METHOD_TYPES = {"DIGITAL": "ICP_BRASIL_CERTIFICATE", "ELETRONICA": "ELECTRONIC", "FISICA": "WET_INK"}

TERMINAL = ("QUORUM_MET", "NO_QUORUM", "FAILED")

# -- amount bands --------------------------------------------------------------------------------------

AMOUNT_BANDS: tuple[tuple[Decimal | None, str], ...] = (
    (Decimal("10000"), "<=10k"),
    (Decimal("100000"), "10k-100k"),
    (Decimal("1000000"), "100k-1M"),
    (Decimal("5000000"), "1M-5M"),
    (None, ">5M"),
)


def amount_band(amount: Decimal | float | str | None) -> str | None:
    if amount is None:
        return None
    value = Decimal(str(amount))
    for upper, label in AMOUNT_BANDS:
        if upper is None or value <= upper:
            return label
    raise AssertionError("unreachable: the last band is open")


# -- the requester, without the document ----------------------------------------------------------------


def requester_id(key: bytes, document: str) -> str:
    """A keyed HMAC of the document: distinct counts work, the document cannot be recovered or guessed."""
    return hmac.new(key, document.encode("ascii", "replace"), hashlib.sha256).hexdigest()[:32]


# -- cost per order (docs/cost.md's model, per order) --------------------------------------------------------

STEP_FUNCTIONS_PRICE_PER_TRANSITION = 0.000025  # Standard, us-east-1 list price
LAMBDA_PRICE_PER_REQUEST = 0.0000002
LAMBDA_PRICE_PER_GB_SECOND = 0.0000166667
LAMBDA_AVERAGE_SECONDS = 0.150
LAMBDA_MEMORY_GB = 0.5
TOP_LEVEL_TRANSITIONS = 7
PJ_PARTY_TRANSITIONS = 7
PF_PARTY_TRANSITIONS = 2
# APIHandler POST + one GET + creation and result queue handlers; per attempt LoadOrder, Conclude, Publish.
FIXED_INVOCATIONS = 4
TOP_LEVEL_TASKS = 3
PJ_PARTY_TASKS = 4
PF_PARTY_TASKS = 1


def estimated_cost_usd(pj_parties: int, pf_parties: int, attempts: int) -> float:
    """Step Functions transitions plus Lambda requests and duration, at list prices (docs/cost.md)."""
    attempts = max(attempts, 1)
    transitions = attempts * (
        TOP_LEVEL_TRANSITIONS + PJ_PARTY_TRANSITIONS * pj_parties + PF_PARTY_TRANSITIONS * pf_parties
    )
    invocations = FIXED_INVOCATIONS + attempts * (
        TOP_LEVEL_TASKS + PJ_PARTY_TASKS * pj_parties + PF_PARTY_TASKS * pf_parties
    )
    duration = invocations * LAMBDA_AVERAGE_SECONDS * LAMBDA_MEMORY_GB
    return round(
        transitions * STEP_FUNCTIONS_PRICE_PER_TRANSITION
        + invocations * LAMBDA_PRICE_PER_REQUEST
        + duration * LAMBDA_PRICE_PER_GB_SECOND,
        9,
    )


# -- fact rows ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyRow:
    """One party as read from the database, with its participants' exclusions counted per reason."""

    order_key: str
    position: int
    role: str
    person_type: str
    quorum_met: bool | None
    reason: str | None
    participants: int
    rules_applicable: int
    rules_satisfied: int
    excluded: Mapping[str, int]


@dataclass(frozen=True)
class OrderRow:
    """One order as read from the database, history and partner calls already counted."""

    order_key: str
    area_code: str
    product_code: str
    platform: str
    signature_method: str
    amount: Decimal
    requester_person_type: str
    requester_document: str
    status: str
    created_at: datetime
    updated_at: datetime
    history_rows: int
    claims: int
    parks: int
    verdict_at: datetime | None
    partner_calls: int
    partner_errors: int
    partner_latency_ms: int
    # partner -> (calls, errors, latency ms)
    by_partner: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass
class FactBatch:
    """Columns of fact_orders and fact_party_outcomes for one set of orders (one partition, usually)."""

    orders: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c, _ in FACT_ORDERS_COLUMNS})
    parties: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c, _ in FACT_PARTY_OUTCOMES_COLUMNS})

    def __len__(self) -> int:
        return len(self.orders["order_key"])


def verdict_ms(created_at: datetime, verdict_at: datetime | None) -> int | None:
    if verdict_at is None:
        return None
    return max(int((verdict_at - created_at).total_seconds() * 1000), 0)


def build_facts(orders: Iterable[OrderRow], parties: Iterable[PartyRow], hmac_key: bytes) -> FactBatch:
    """fact_orders and fact_party_outcomes rows; an order's parties give its counts and failure reason."""
    by_order: dict[str, list[PartyRow]] = {}
    for party in parties:
        by_order.setdefault(party.order_key, []).append(party)
    batch = FactBatch()
    o, p = batch.orders, batch.parties
    ids: dict[str, str] = {}
    for row in orders:
        its = sorted(by_order.get(row.order_key, ()), key=lambda x: x.position)
        pj = sum(1 for x in its if x.person_type == "PJ")
        failure = None
        if row.status == "FAILED":
            failure = "TECHNICAL_FAILURE"
        elif row.status == "NO_QUORUM":
            failure = next((x.reason for x in its if x.quorum_met is False and x.reason), None)
        rid = ids.get(row.requester_document)
        if rid is None:
            rid = ids[row.requester_document] = requester_id(hmac_key, row.requester_document)
        quorum = {"QUORUM_MET": True, "NO_QUORUM": False}.get(row.status)
        o["order_key"].append(row.order_key)
        o["area_code"].append(row.area_code)
        o["created_at"].append(row.created_at)
        o["created_date"].append(row.created_at.date())
        o["status"].append(row.status)
        o["platform"].append(row.platform)
        o["signature_method"].append(row.signature_method)
        o["product_code"].append(row.product_code)
        o["requester_id"].append(rid)
        o["requester_type"].append(row.requester_person_type)
        o["participants"].append(sum(x.participants for x in its))
        o["guarantors"].append(sum(1 for x in its if x.role == "GUARANTOR"))
        o["quorum_met"].append(quorum)
        o["failure_reason"].append(failure)
        o["amount_band"].append(amount_band(row.amount))
        o["verdict_ms"].append(verdict_ms(row.created_at, row.verdict_at) if row.status in TERMINAL else None)
        o["partner_calls"].append(row.partner_calls)
        o["partner_errors"].append(row.partner_errors)
        o["partner_latency_ms"].append(row.partner_latency_ms)
        for partner in PARTNERS:
            calls, errors, latency = row.by_partner.get(partner, (0, 0, 0))
            o[f"{partner}_calls"].append(calls)
            o[f"{partner}_errors"].append(errors)
            o[f"{partner}_latency_ms"].append(latency)
        o["retries"].append(max(row.claims - 1, 0))
        o["times_parked"].append(row.parks)
        o["state_transitions"].append(row.history_rows)
        o["estimated_cost_usd"].append(estimated_cost_usd(pj, len(its) - pj, row.claims))
        o["updated_at"].append(row.updated_at)
        for x in its:
            p["order_key"].append(x.order_key)
            p["area_code"].append(row.area_code)
            p["position"].append(x.position)
            p["role"].append(x.role)
            p["person_type"].append(x.person_type)
            p["quorum_met"].append(x.quorum_met)
            p["reason_code"].append(x.reason)
            p["participants"].append(x.participants)
            p["rules_applicable"].append(x.rules_applicable)
            p["rules_satisfied"].append(x.rules_satisfied)
            for reason in EXCLUSION_REASONS:
                p[f"excluded_{reason.lower()}"].append(int(x.excluded.get(reason, 0)))
    return batch


# -- dimensions ------------------------------------------------------------------------------------------------


def dimension_rows(
    areas: Mapping[str, Mapping[str, Any]],
    platforms: Iterable[str],
    methods: Iterable[str],
    products: Mapping[str, str],
    first_day: date | None,
    last_day: date | None,
) -> dict[str, dict[str, list[Any]]]:
    """Small whole tables. `areas`: area code -> its settings snapshot (name, cost_center)."""

    def table(name: str, rows: Iterable[tuple[Any, ...]]) -> dict[str, list[Any]]:
        cols = [c for c, _ in DIMENSIONS[name]]
        out: dict[str, list[Any]] = {c: [] for c in cols}
        for row in rows:
            for c, v in zip(cols, row):
                out[c].append(v)
        return out

    days: list[date] = []
    if first_day and last_day:
        day = first_day
        while day <= last_day:
            days.append(day)
            day += timedelta(days=1)
    return {
        "dim_area": table(
            "dim_area", sorted((code, _text(s.get("name")), _text(s.get("cost_center"))) for code, s in areas.items())
        ),
        "dim_platform": table("dim_platform", sorted((p, PLATFORM_TYPES.get(p, "OTHER")) for p in set(platforms))),
        "dim_signature_method": table(
            "dim_signature_method", sorted((m, SIGNATURE_METHOD_TYPES.get(m, "OTHER")) for m in set(methods))
        ),
        "dim_status": table("dim_status", [(s, d, t) for s, (d, t) in STATUS_DESCRIPTIONS.items()]),
        "dim_product": table("dim_product", sorted(products.items())),
        "dim_date": table(
            "dim_date",
            [(d, d.year, (d.month - 1) // 3 + 1, d.month, d.day, d.isoweekday(), d.isocalendar()[1]) for d in days],
        ),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- the daily roll-up (GET /v1/insights reads it) ----------------------------------------------------------

# Upper bounds (ms) of the time-to-verdict histogram; the last bucket is open.
VERDICT_BUCKETS_MS: tuple[int, ...] = (
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    21_600_000,
    86_400_000,
)


def bucket_of(ms: int) -> int:
    for i, upper in enumerate(VERDICT_BUCKETS_MS):
        if ms <= upper:
            return i
    return len(VERDICT_BUCKETS_MS)


def percentile_from_histogram(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1), interpolated linearly inside its bucket; None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            lower = 0 if i == 0 else VERDICT_BUCKETS_MS[i - 1]
            if i >= len(VERDICT_BUCKETS_MS):
                return float(lower)
            upper = VERDICT_BUCKETS_MS[i]
            return lower + (upper - lower) * max(rank - seen, 0) / n
        seen += n
    return float(VERDICT_BUCKETS_MS[-1])


DailyKey = tuple[str, date, str, str, str]


def rollup(batch: FactBatch) -> tuple[dict[DailyKey, dict[str, Any]], dict[tuple[str, date, str], int]]:
    """Daily rows keyed (area, day, platform, method, product) and no-quorum reasons keyed (area, day, reason)."""
    daily: dict[DailyKey, dict[str, Any]] = {}
    o = batch.orders
    day_of: dict[str, tuple[str, date]] = {}
    buckets = len(VERDICT_BUCKETS_MS) + 1
    for i in range(len(batch)):
        key = (
            o["area_code"][i],
            o["created_date"][i],
            o["platform"][i],
            o["signature_method"][i],
            o["product_code"][i],
        )
        day_of[o["order_key"][i]] = (key[0], key[1])
        row = daily.get(key)
        if row is None:
            row = daily[key] = {
                "orders": 0,
                "quorum_met": 0,
                "no_quorum": 0,
                "failed": 0,
                "in_progress": 0,
                "verdict_histogram": [0] * buckets,
                "partner_calls": 0,
                "partner_errors": 0,
                "partner_latency_ms": 0,
            }
        status = o["status"][i]
        row["orders"] += 1
        row[{"QUORUM_MET": "quorum_met", "NO_QUORUM": "no_quorum", "FAILED": "failed"}.get(status, "in_progress")] += 1
        if o["verdict_ms"][i] is not None:
            row["verdict_histogram"][bucket_of(o["verdict_ms"][i])] += 1
        row["partner_calls"] += o["partner_calls"][i]
        row["partner_errors"] += o["partner_errors"][i]
        row["partner_latency_ms"] += o["partner_latency_ms"][i]
    reasons: dict[tuple[str, date, str], int] = {}
    p = batch.parties
    for i in range(len(p["order_key"])):
        reason = p["reason_code"][i]
        if reason and p["quorum_met"][i] is False:
            area, day = day_of[p["order_key"][i]]
            reasons[(area, day, reason)] = reasons.get((area, day, reason), 0) + 1
    for i in range(len(batch)):
        if o["failure_reason"][i] == "TECHNICAL_FAILURE":
            k = (o["area_code"][i], o["created_date"][i], "TECHNICAL_FAILURE")
            reasons[k] = reasons.get(k, 0) + 1
    return daily, reasons


# -- the insights answer ---------------------------------------------------------------------------------------

MAX_INSIGHTS_DAYS = 366
DEFAULT_INSIGHTS_DAYS = 30


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def insights(
    area_code: str,
    first: date,
    last: date,
    day_rows: Iterable[Mapping[str, Any]],
    group_rows: Iterable[Mapping[str, Any]],
    reason_rows: Iterable[Mapping[str, Any]],
    refreshed_through: datetime | None,
) -> dict[str, Any]:
    """GET /v1/insights's body (docs/analytics.md) from roll-up sums: `day_rows` carry a day, the counts and a
    verdict histogram; `group_rows` a platform, method and product with orders, quorum_met and no_quorum.
    Rows of the same day or group are added up, so finer rows (one per combination and day) work too."""
    buckets = len(VERDICT_BUCKETS_MS) + 1
    days: dict[date, dict[str, Any]] = {}
    groups: dict[str, dict[str, dict[str, int]]] = {"platform": {}, "signature_method": {}, "product_code": {}}
    total_hist = [0] * buckets
    totals = {"orders": 0, "quorum_met": 0, "no_quorum": 0, "failed": 0, "in_progress": 0}
    partners = {"calls": 0, "errors": 0, "latency_ms": 0}
    for r in day_rows:
        hist = r["verdict_histogram"]
        d = days.setdefault(
            r["day"],
            {
                "orders": 0,
                "quorum_met": 0,
                "no_quorum": 0,
                "failed": 0,
                "in_progress": 0,
                "hist": [0] * buckets,
                "calls": 0,
                "errors": 0,
                "latency_ms": 0,
            },
        )
        for k in totals:
            d[k] += r[k]
            totals[k] += r[k]
        for i, n in enumerate(hist[:buckets]):
            d["hist"][i] += n
            total_hist[i] += n
        d["calls"] += r["partner_calls"]
        d["errors"] += r["partner_errors"]
        d["latency_ms"] += r["partner_latency_ms"]
        partners["calls"] += r["partner_calls"]
        partners["errors"] += r["partner_errors"]
        partners["latency_ms"] += r["partner_latency_ms"]
    for r in group_rows:
        for dim, by_code in groups.items():
            g = by_code.setdefault(r[dim], {"orders": 0, "decided": 0, "quorum_met": 0})
            g["orders"] += r["orders"]
            g["decided"] += r["quorum_met"] + r["no_quorum"]
            g["quorum_met"] += r["quorum_met"]
    series = []
    day = first
    while day <= last:
        found = days.get(day)
        if found is None:
            series.append(InsightsDay.without_orders(day.isoformat()).model_dump())
        else:
            d = found
            series.append(
                {
                    "day": day.isoformat(),
                    **{k: d[k] for k in totals},
                    "verdict_ms_p50": _ms(percentile_from_histogram(d["hist"], 0.5)),
                    "verdict_ms_p95": _ms(percentile_from_histogram(d["hist"], 0.95)),
                    "partner_calls": d["calls"],
                    "partner_errors": d["errors"],
                    "partner_latency_ms_avg": _avg(d["latency_ms"], d["calls"]),
                }
            )
        day += timedelta(days=1)
    reasons: dict[str, int] = {}
    for r in reason_rows:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["parties"]

    def by(dim: str) -> list[dict[str, Any]]:
        return [
            {
                "code": code,
                "orders": g["orders"],
                "decided": g["decided"],
                "quorum_met": g["quorum_met"],
                "quorum_rate": _rate(g["quorum_met"], g["decided"]),
            }
            for code, g in sorted(groups[dim].items(), key=lambda kv: (-kv[1]["orders"], kv[0]))
        ]

    decided = totals["quorum_met"] + totals["no_quorum"]
    return {
        "area_code": area_code,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "refreshed_through": None
        if refreshed_through is None
        else refreshed_through.isoformat().replace("+00:00", "Z"),
        "totals": {**totals, "quorum_rate": _rate(totals["quorum_met"], decided)},
        "days": series,
        "quorum_rate": {
            "by_platform": by("platform"),
            "by_signature_method": by("signature_method"),
            "by_product": by("product_code"),
        },
        "no_quorum_reasons": [
            {"reason": k, "description": REASON_DESCRIPTIONS.get(k, k), "parties": n}
            for k, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "time_to_verdict_ms": {
            "count": sum(total_hist),
            "p50": _ms(percentile_from_histogram(total_hist, 0.5)),
            "p95": _ms(percentile_from_histogram(total_hist, 0.95)),
        },
        "partners": {
            "calls": partners["calls"],
            "errors": partners["errors"],
            "error_rate": _rate(partners["errors"], partners["calls"]),
            "latency_ms_avg": _avg(partners["latency_ms"], partners["calls"]),
        },
    }


def _ms(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _avg(total: int, count: int) -> float | None:
    return None if count == 0 else round(total / count, 1)
