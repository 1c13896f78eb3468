"""AME's tables as SQLAlchemy Core metadata; migrations/versions must create exactly this."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# MySQL/Aurora and MariaDB: TEXT caps at 64 KiB, too small for a full request or result in utf8mb4;
# DATETIME without fsp drops microseconds, which the round trip and outbox ordering need.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Amount = sa.Numeric(17, 2, asdecimal=True)
# BIGINT does not auto-increment on SQLite (only INTEGER PRIMARY KEY does).
HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Binary collation: order keys, documents and Idempotency-Keys are case-sensitive identifiers.
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

ORDER_KEY = 40
CODE = 64
DOCUMENT = 20
STATUS = 16
DETAIL = 500
ACTOR = 64
EXECUTION = 255

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), primary_key=True),
    sa.Column("status", sa.String(STATUS), nullable=False),
    sa.Column("status_detail", sa.String(DETAIL), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.String(ACTOR), nullable=False),
    sa.Column("updated_by", sa.String(ACTOR), nullable=False),
    sa.Column("area_code", sa.String(CODE), nullable=False),
    sa.Column("product_code", sa.String(CODE), nullable=False),
    sa.Column("platform", sa.String(CODE), nullable=False),
    sa.Column("signature_method", sa.String(CODE), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("external_reference", sa.String(128), nullable=True),
    sa.Column("requester_person_type", sa.String(2), nullable=False),
    sa.Column("requester_document", sa.String(DOCUMENT), nullable=False),
    sa.Column("idempotency_key", sa.String(128), nullable=True),
    sa.Column("request_hash", sa.String(128), nullable=True),
    sa.Column("area_snapshot", LongText, nullable=False),
    sa.Column("request_body", LongText, nullable=False),
    sa.Column("result", LongText, nullable=True),
    # The execution that claimed the order (workflow compare-and-set owner); null until claimed.
    sa.Column("processing_by", sa.String(EXECUTION), nullable=True),
    # Try again later: how many times the order was parked and re-driven, since when a partner has
    # been failing it, and when the next attempt is due (null when not parked).
    sa.Column("redrive_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("first_failure_at", Timestamp, nullable=True),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    # The partner a parked order waits for (poderes, pessoas, cadastro), null when not parked or when
    # the failure named no partner: "orders parked on X" is an indexed query when X is back.
    sa.Column("parked_on", sa.String(32), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_orders_area_status_created", "area_code", "status", "created_at", "order_key"),
    sa.Index("ix_orders_created_by_created", "created_by", "created_at"),
    sa.Index("ix_orders_external_reference", "external_reference"),
    sa.Index("ix_orders_requester_document", "requester_document"),
    sa.Index("ix_orders_status_updated", "status", "updated_at"),
    sa.Index("ix_orders_status_next_attempt", "status", "next_attempt_at"),
    sa.Index("ix_orders_parked_on", "parked_on", "next_attempt_at"),
    **TABLE_OPTIONS,
)

order_parties = sa.Table(
    "order_parties",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("role", sa.String(STATUS), nullable=False),
    sa.Column("person_type", sa.String(2), nullable=False),
    sa.Column("document", sa.String(DOCUMENT), nullable=False),
    sa.Column("power_code", sa.String(CODE), nullable=True),
    sa.Column("quorum_met", sa.Boolean(), nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("evaluation", LongText, nullable=True),
    sa.Index("ix_order_parties_document", "document"),
    **TABLE_OPTIONS,
)

order_participants = sa.Table(
    "order_participants",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), primary_key=True),
    sa.Column("party_position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("cpf", sa.String(11), primary_key=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("email", sa.String(254), nullable=True),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("groups", sa.Text(), nullable=False),
    sa.Column("restricted", sa.Boolean(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("reasons", sa.Text(), nullable=False),
    sa.Column("joint_only", sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(
        ["order_key", "party_position"],
        ["order_parties.order_key", "order_parties.position"],
        name="fk_order_participants_party",
    ),
    **TABLE_OPTIONS,
)

order_rules = sa.Table(
    "order_rules",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), primary_key=True),
    sa.Column("party_position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("rule_id", sa.String(CODE), primary_key=True),
    sa.Column("description", sa.String(DETAIL), nullable=True),
    sa.Column("max_amount", Amount, nullable=True),
    sa.Column("requirements", sa.Text(), nullable=False),
    sa.Column("applicable", sa.Boolean(), nullable=False),
    sa.Column("satisfied", sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(
        ["order_key", "party_position"],
        ["order_parties.order_key", "order_parties.position"],
        name="fk_order_rules_party",
    ),
    **TABLE_OPTIONS,
)

order_documents = sa.Table(
    "order_documents",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("document_type", sa.String(CODE), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    **TABLE_OPTIONS,
)

order_status_history = sa.Table(
    "order_status_history",
    metadata,
    sa.Column("id", HistoryId, primary_key=True, autoincrement=True),
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), nullable=False),
    sa.Column("status", sa.String(STATUS), nullable=False),
    sa.Column("detail", sa.String(DETAIL), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_order_status_history_order_key_id", "order_key", "id"),
    **TABLE_OPTIONS,
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("message_id", sa.String(40), primary_key=True),
    sa.Column("order_key", sa.String(ORDER_KEY), nullable=False),
    sa.Column("queue", sa.String(CODE), nullable=False),
    sa.Column("body", LongText, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("published_at", Timestamp, nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Index("ix_outbox_published_created", "published_at", "created_at"),
    sa.Index("ix_outbox_order_key", "order_key"),
    **TABLE_OPTIONS,
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller", sa.String(ACTOR), primary_key=True),
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # MySQL would create this index implicitly for the foreign key; naming it keeps both dialects equal.
    sa.Index("ix_idempotency_keys_order_key", "order_key"),
    **TABLE_OPTIONS,
)

# Partner answers kept per party while the workflow runs (powers, people, operators, verdict):
# the execution carries keys, the data lives here.
party_artifacts = sa.Table(
    "party_artifacts",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("payload", LongText, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    **TABLE_OPTIONS,
)

# Result delivery: one row per order and channel (WEBHOOK, ENVELOPE_READY, EMAIL:<cpf>,
# SMS:<cpf>). The primary key is the exactly-once guard; the lease keeps two copies of one event
# from working on the same channel at once.
order_deliveries = sa.Table(
    "order_deliveries",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), sa.ForeignKey("orders.order_key"), primary_key=True),
    sa.Column("channel", sa.String(CODE), primary_key=True),
    sa.Column("kind", sa.String(STATUS), nullable=False),
    sa.Column("target", sa.String(DETAIL), nullable=True),
    sa.Column("status", sa.String(STATUS), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("lease_until", Timestamp, nullable=True),
    sa.Column("last_error", sa.String(DETAIL), nullable=True),
    sa.Column("message_id", sa.String(128), nullable=True),
    sa.Column("first_attempt_at", Timestamp, nullable=True),
    sa.Column("last_attempt_at", Timestamp, nullable=True),
    sa.Column("delivered_at", Timestamp, nullable=True),
    **TABLE_OPTIONS,
)

# The notification cap (migration 0007): a recipient's notifications per channel ("EMAIL:<cpf>") within a
# window, counted on this index; and one row per such channel, locked while a claim counts and inserts, so
# two batches notifying the same person count one after the other.
sa.Index("ix_order_deliveries_channel_first", order_deliveries.c.channel, order_deliveries.c.first_attempt_at)
notification_recipients = sa.Table(
    "notification_recipients",
    metadata,
    sa.Column("channel", sa.String(CODE), primary_key=True),
    **TABLE_OPTIONS,
)

# GET /v1/orders by area, newest first (migration 0004); area + status uses ix_orders_area_status_created.
sa.Index("ix_orders_area_created", orders.c.area_code, orders.c.created_at, orders.c.order_key)

VERDICT_BUCKETS = 14  # len(chalicelib.domain.analytics.VERDICT_BUCKETS_MS) + 1; a unit test keeps them equal

# Analytics (docs/analytics.md): partner calls tallied per order and partner, the export's watermarks,
# and the daily roll-up that GET /v1/insights answers from.
order_partner_calls = sa.Table(
    "order_partner_calls",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), primary_key=True),
    sa.Column("partner", sa.String(32), primary_key=True),
    sa.Column("calls", sa.Integer(), nullable=False),
    sa.Column("errors", sa.Integer(), nullable=False),
    sa.Column("latency_ms", sa.BigInteger(), nullable=False),
    **TABLE_OPTIONS,
)

analytics_watermarks = sa.Table(
    "analytics_watermarks",
    metadata,
    sa.Column("name", sa.String(CODE), primary_key=True),
    sa.Column("high_water", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    **TABLE_OPTIONS,
)

insights_daily = sa.Table(
    "insights_daily",
    metadata,
    sa.Column("area_code", sa.String(CODE), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("platform", sa.String(CODE), primary_key=True),
    sa.Column("signature_method", sa.String(CODE), primary_key=True),
    sa.Column("product_code", sa.String(CODE), primary_key=True),
    sa.Column("orders", sa.Integer(), nullable=False),
    sa.Column("quorum_met", sa.Integer(), nullable=False),
    sa.Column("no_quorum", sa.Integer(), nullable=False),
    sa.Column("failed", sa.Integer(), nullable=False),
    sa.Column("in_progress", sa.Integer(), nullable=False),
    # Time from intake to verdict as a histogram over fixed buckets (domain.analytics.VERDICT_BUCKETS_MS,
    # the last one open), so that p50/p95 over any range of days is a sum the database does.
    *(sa.Column(f"verdict_bucket_{i:02d}", sa.Integer(), nullable=False) for i in range(VERDICT_BUCKETS)),
    sa.Column("partner_calls", sa.Integer(), nullable=False),
    sa.Column("partner_errors", sa.Integer(), nullable=False),
    sa.Column("partner_latency_ms", sa.BigInteger(), nullable=False),
    **TABLE_OPTIONS,
)

insights_daily_reasons = sa.Table(
    "insights_daily_reasons",
    metadata,
    sa.Column("area_code", sa.String(CODE), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("reason", sa.String(32), primary_key=True),
    sa.Column("parties", sa.Integer(), nullable=False),
    **TABLE_OPTIONS,
)
# The analytics export reads orders by creation day and finds changed ones by updated_at (migration 0006).
sa.Index("ix_orders_created_at", orders.c.created_at)
sa.Index("ix_orders_updated_at", orders.c.updated_at)

# Data lifecycle (docs/data-lifecycle.md, migration 0010_retention). A lease per job name (two runs at once: one
# works, the other returns); a cursor per after-verdict rule (orders walked by updated_at, order_key); every
# archive object written, with its state (ARCHIVED: written and confirmed, rows not yet deleted; DELETED);
# and every archived order, so `bin/ame archive show` finds its object and nothing is archived twice.
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("name", sa.String(CODE), primary_key=True),
    sa.Column("holder", sa.String(CODE), nullable=True),
    sa.Column("lease_until", Timestamp, nullable=False),
    **TABLE_OPTIONS,
)

retention_cursors = sa.Table(
    "retention_cursors",
    metadata,
    sa.Column("name", sa.String(CODE), primary_key=True),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("order_key", sa.String(ORDER_KEY), nullable=False),
    **TABLE_OPTIONS,
)

retention_archives = sa.Table(
    "retention_archives",
    metadata,
    sa.Column("object_key", sa.String(255), primary_key=True),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("first_order_key", sa.String(ORDER_KEY), nullable=False),
    sa.Column("last_order_key", sa.String(ORDER_KEY), nullable=False),
    sa.Column("orders", sa.Integer(), nullable=False),
    sa.Column("row_count", sa.Integer(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(STATUS), nullable=False),
    sa.Column("archived_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp, nullable=True),
    sa.Index("ix_retention_archives_state", "state"),
    sa.Index("ix_retention_archives_day", "day"),
    **TABLE_OPTIONS,
)

retention_archived_orders = sa.Table(
    "retention_archived_orders",
    metadata,
    sa.Column("order_key", sa.String(ORDER_KEY), primary_key=True),
    sa.Column("object_key", sa.String(255), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Index("ix_retention_archived_orders_object_key", "object_key"),
    **TABLE_OPTIONS,
)

# Every purge predicate is served by an index (tests/integration/test_retention_plans.py runs EXPLAIN):
# idempotency keys by their own time (published outbox rows have ix_outbox_published_created, orders
# ix_orders_updated_at and ix_orders_created_at); the privacy report finds a participant by CPF.
sa.Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)
sa.Index("ix_order_participants_cpf", order_participants.c.cpf)
# What-if audit (docs/security.md): one row per simulation answered. No CPF is stored; `company` is the
# CNPJ asked about (a company's id: the audit must say who looked up which company).
quorum_simulations = sa.Table(
    "quorum_simulations",
    metadata,
    sa.Column("id", HistoryId, primary_key=True, autoincrement=True),
    sa.Column("simulated_at", Timestamp, nullable=False),
    sa.Column("client_id", sa.String(ACTOR), nullable=False),
    sa.Column("subject", sa.String(255), nullable=True),
    sa.Column("area_code", sa.String(CODE), nullable=False),
    sa.Column("company", sa.String(DOCUMENT), nullable=False),
    sa.Column("role", sa.String(STATUS), nullable=False),
    sa.Column("power_code", sa.String(CODE), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("evaluated_on", sa.Date(), nullable=False),
    sa.Column("platform", sa.String(CODE), nullable=True),
    sa.Column("operator_check", sa.Boolean(), nullable=False),
    sa.Column("unavailable_count", sa.Integer(), nullable=False),
    sa.Column("quorum_met", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("personal_data", sa.Boolean(), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Index("ix_quorum_simulations_simulated_at", "simulated_at"),
    sa.Index("ix_quorum_simulations_area_simulated", "area_code", "simulated_at"),
    sa.Index("ix_quorum_simulations_client_simulated", "client_id", "simulated_at"),
    sa.Index("ix_quorum_simulations_company_simulated", "company", "simulated_at"),
    **TABLE_OPTIONS,
)
