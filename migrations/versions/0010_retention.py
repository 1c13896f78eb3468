"""Data lifecycle: job leases, retention cursors, archive bookkeeping and the purge indexes (docs/data-lifecycle.md).

Revision ID: 0010_retention
Revises: 0009_parked_on
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0010_retention"
down_revision: str | Sequence[str] | None = "0009_parked_on"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index("ix_order_participants_cpf", "order_participants", ["cpf"])
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("lease_until", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_leases"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "retention_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_retention_cursors"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "retention_archives",
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_order_key", sa.String(40), nullable=False),
        sa.Column("last_order_key", sa.String(40), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("archived_at", Timestamp, nullable=False),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("object_key", name="pk_retention_archives"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_retention_archives_state", "retention_archives", ["state"])
    op.create_index("ix_retention_archives_day", "retention_archives", ["day"])
    op.create_table(
        "retention_archived_orders",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("order_key", name="pk_retention_archived_orders"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_retention_archived_orders_object_key", "retention_archived_orders", ["object_key"])


def downgrade() -> None:
    op.drop_table("retention_archived_orders")
    op.drop_table("retention_archives")
    op.drop_table("retention_cursors")
    op.drop_table("job_leases")
    op.drop_index("ix_order_participants_cpf", table_name="order_participants")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
