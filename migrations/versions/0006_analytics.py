"""Analytics: orders by creation and update time, partner calls per order, export watermarks, the daily insights roll-up (docs/analytics.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.create_index("ix_orders_updated_at", "orders", ["updated_at"])
    op.create_table(
        "order_partner_calls",
        sa.Column("order_key", sa.String(40), nullable=False),
        sa.Column("partner", sa.String(32), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_key", "partner", name="pk_order_partner_calls"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "analytics_watermarks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("high_water", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_analytics_watermarks"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "insights_daily",
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("signature_method", sa.String(64), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("quorum_met", sa.Integer(), nullable=False),
        sa.Column("no_quorum", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("in_progress", sa.Integer(), nullable=False),
        *(sa.Column(f"verdict_bucket_{i:02d}", sa.Integer(), nullable=False) for i in range(14)),
        sa.Column("partner_calls", sa.Integer(), nullable=False),
        sa.Column("partner_errors", sa.Integer(), nullable=False),
        sa.Column("partner_latency_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("area_code", "day", "platform", "signature_method", "product_code",
                                name="pk_insights_daily"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "insights_daily_reasons",
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("parties", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area_code", "day", "reason", name="pk_insights_daily_reasons"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("insights_daily_reasons")
    op.drop_table("insights_daily")
    op.drop_table("analytics_watermarks")
    op.drop_table("order_partner_calls")
    op.drop_index("ix_orders_updated_at", table_name="orders")
    op.drop_index("ix_orders_created_at", table_name="orders")
