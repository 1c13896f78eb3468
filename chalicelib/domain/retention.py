"""Data lifecycle: how long each kind of data is kept, what may be touched, and the archive's format.

Pure rules (docs/data-lifecycle.md): the periods per data kind, the one eligibility test every purge
applies (terminal orders only, past the period, already taken by the analytics export), the archive
object's deterministic name and its gzip JSON Lines encoding, and how rows are grouped into transactions.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.orders import TERMINAL_STATUSES

TERMINAL = tuple(sorted(s.value for s in TERMINAL_STATUSES))

# Anonymised contact fields hold NULL: nothing of the old value stays, and NULL is what an order that never
# had a contact shows (the delivery code already skips people without e-mail or phone).
ANONYMISED: None = None


class Rule(StrEnum):
    """One kind of data with its own period. The value names the table the rule touches (metrics, plan)."""

    IDEMPOTENCY_KEYS = "idempotency_keys"
    PUBLISHED_OUTBOX = "outbox"
    PARTY_ARTIFACTS = "party_artifacts"
    PARTICIPANT_CONTACTS = "order_participants"
    DELIVERIES = "order_deliveries"
    ORDERS = "orders"


# Rules that walk terminal orders by the time of their verdict (orders.updated_at), with a cursor.
AFTER_VERDICT = (Rule.PARTY_ARTIFACTS, Rule.PARTICIPANT_CONTACTS, Rule.DELIVERIES)


class RetentionPolicy(BaseModel):
    """Days each kind of data is kept (defaults from docs/data-lifecycle.md, each set by AME_RETENTION_*)."""

    model_config = ConfigDict(frozen=True, defer_build=True, populate_by_name=True, extra="ignore")

    idempotency_keys_days: int = Field(7, alias="AME_RETENTION_IDEMPOTENCY_KEYS_DAYS", ge=1)
    published_outbox_days: int = Field(7, alias="AME_RETENTION_PUBLISHED_OUTBOX_DAYS", ge=1)
    party_artifacts_days: int = Field(30, alias="AME_RETENTION_PARTY_ARTIFACTS_DAYS", ge=1)
    participant_contacts_days: int = Field(30, alias="AME_RETENTION_PARTICIPANT_CONTACTS_DAYS", ge=1)
    deliveries_days: int = Field(90, alias="AME_RETENTION_DELIVERIES_DAYS", ge=1)
    # Five years (5 × 365 + 1 leap day); to be confirmed with the legal team.
    orders_days: int = Field(1826, alias="AME_RETENTION_ORDERS_DAYS", ge=1)

    def days(self, rule: Rule) -> int:
        return {
            Rule.IDEMPOTENCY_KEYS: self.idempotency_keys_days,
            Rule.PUBLISHED_OUTBOX: self.published_outbox_days,
            Rule.PARTY_ARTIFACTS: self.party_artifacts_days,
            Rule.PARTICIPANT_CONTACTS: self.participant_contacts_days,
            Rule.DELIVERIES: self.deliveries_days,
            Rule.ORDERS: self.orders_days,
        }[rule]

    def cutoff(self, rule: Rule, now: datetime) -> datetime:
        """Rows older than this (strictly) are past their period."""
        return now - timedelta(days=self.days(rule))

    def cutoffs(self, now: datetime) -> dict[Rule, datetime]:
        return {rule: self.cutoff(rule, now) for rule in Rule}


def order_may_be_touched(status: str, updated_at: datetime, cutoff: datetime, exported_until: datetime | None) -> bool:
    """Business rule: a purge touches an order's rows only when the order has its verdict (terminal), the
    verdict is older than the rule's period, and the analytics export has already taken the order's last
    change (its watermark is at or past updated_at). No export yet: nothing is touched."""
    return status in TERMINAL and updated_at < cutoff and exported_until is not None and updated_at <= exported_until


# -- archive -------------------------------------------------------------------------------------------

ARCHIVE_FOLDER = "orders"


def archive_key(day: date, first_order_key: str, last_order_key: str) -> str:
    """Deterministic: the same orders give the same name, so a re-run overwrites rather than duplicates."""
    return f"{ARCHIVE_FOLDER}/dt={day.isoformat()}/part-{first_order_key}-{last_order_key}.jsonl.gz"


def encode_archive(records: Sequence[dict[str, Any]]) -> bytes:
    """gzip JSON Lines, one order per line sorted by order key; no timestamp in the gzip header, so the
    same rows give the same bytes."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as out:
        for record in sorted(records, key=lambda r: r["order"]["order_key"]):
            out.write(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
            out.write(b"\n")
    return raw.getvalue()


def decode_archive(data: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(data).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_rows(record: dict[str, Any]) -> int:
    """Rows an archived order stands for: the order plus every child list in its record."""
    return 1 + sum(len(v) for k, v in record.items() if k != "order" and isinstance(v, list))


def chunk_by_rows(sizes: Iterable[tuple[str, int]], limit: int) -> list[list[str]]:
    """Groups keys, in order, so that each group's rows stay within `limit` (one transaction each).
    An order is never split: one whose rows alone exceed the limit is a group by itself."""
    groups: list[list[str]] = []
    current: list[str] = []
    rows = 0
    for key, size in sizes:
        if current and rows + size > limit:
            groups.append(current)
            current, rows = [], 0
        current.append(key)
        rows += size
    if current:
        groups.append(current)
    return groups
