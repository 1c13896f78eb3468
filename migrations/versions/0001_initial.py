"""Initial schema: orders, parties, participants, rules, documents, history, outbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies of the types in chalicelib/adapters/db/schema.py as of this revision.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Amount = sa.Numeric(17, 2, asdecimal=True)
HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_detail", sa.String(500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("signature_method", sa.String(64), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("external_reference", sa.String(128), nullable=True),
        sa.Column("requester_person_type", sa.String(2), nullable=False),
        sa.Column("requester_document", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("request_hash", sa.String(128), nullable=True),
        sa.Column("area_snapshot", LongText, nullable=False),
        sa.Column("request_body", LongText, nullable=False),
        sa.Column("result", LongText, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("order_key", name="pk_orders"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_orders_area_status_created", "orders", ["area_code", "status", "created_at", "order_key"])
    op.create_index("ix_orders_created_by_created", "orders", ["created_by", "created_at"])
    op.create_index("ix_orders_external_reference", "orders", ["external_reference"])
    op.create_index("ix_orders_requester_document", "orders", ["requester_document"])
    op.create_index("ix_orders_status_updated", "orders", ["status", "updated_at"])

    op.create_table(
        "order_parties",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("person_type", sa.String(2), nullable=False),
        sa.Column("document", sa.String(20), nullable=False),
        sa.Column("power_code", sa.String(64), nullable=True),
        sa.Column("quorum_met", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("evaluation", LongText, nullable=True),
        sa.ForeignKeyConstraint(["order_key"], ["orders.order_key"], name="fk_order_parties_order_key"),
        sa.PrimaryKeyConstraint("order_key", "position", name="pk_order_parties"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_order_parties_document", "order_parties", ["document"])

    op.create_table(
        "order_participants",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("party_position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cpf", sa.String(11), nullable=False),
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
        sa.PrimaryKeyConstraint("order_key", "party_position", "cpf", name="pk_order_participants"),
        **TABLE_OPTIONS,
    )

    op.create_table(
        "order_rules",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("party_position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("max_amount", Amount, nullable=True),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("applicable", sa.Boolean(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_key", "party_position"],
            ["order_parties.order_key", "order_parties.position"],
            name="fk_order_rules_party",
        ),
        sa.PrimaryKeyConstraint("order_key", "party_position", "rule_id", name="pk_order_rules"),
        **TABLE_OPTIONS,
    )

    op.create_table(
        "order_documents",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document_type", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["order_key"], ["orders.order_key"], name="fk_order_documents_order_key"),
        sa.PrimaryKeyConstraint("order_key", "position", name="pk_order_documents"),
        **TABLE_OPTIONS,
    )

    op.create_table(
        "order_status_history",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["order_key"], ["orders.order_key"], name="fk_order_status_history_order_key"),
        sa.PrimaryKeyConstraint("id", name="pk_order_status_history"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_order_status_history_order_key_id", "order_status_history", ["order_key", "id"])

    op.create_table(
        "outbox",
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("body", LongText, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_outbox"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_outbox_published_created", "outbox", ["published_at", "created_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(128), nullable=False),
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["order_key"], ["orders.order_key"], name="fk_idempotency_keys_order_key"),
        sa.PrimaryKeyConstraint("caller", "idempotency_key", name="pk_idempotency_keys"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_idempotency_keys_order_key", "idempotency_keys", ["order_key"])


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "outbox",
        "order_status_history",
        "order_documents",
        "order_rules",
        "order_participants",
        "order_parties",
        "orders",
    ):
        op.drop_table(table)
