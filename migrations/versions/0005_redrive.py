"""Try again later: re-drive count, first failure and next attempt on orders.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("redrive_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_failure_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("next_attempt_at", Timestamp, nullable=True))
    op.create_index("ix_orders_status_next_attempt", "orders", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_status_next_attempt", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("first_failure_at")
        batch.drop_column("redrive_count")
