"""Workflow: claim owner on orders, per-party artifacts, outbox lookup by order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("processing_by", sa.String(255), nullable=True))
    op.create_index("ix_outbox_order_key", "outbox", ["order_key"])
    op.create_table(
        "party_artifacts",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["order_key"], ["orders.order_key"], name="fk_party_artifacts_order_key"),
        sa.PrimaryKeyConstraint("order_key", "position", "kind", name="pk_party_artifacts"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("party_artifacts")
    op.drop_index("ix_outbox_order_key", table_name="outbox")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("processing_by")
