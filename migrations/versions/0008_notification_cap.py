"""Notification cap: count a recipient's notifications per channel within a window (docs/delivery.md).

Revision ID: 0008_notification_cap
Revises: 0007_simulations
Create Date: 2026-12-03
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_notification_cap"
down_revision: Union[str, Sequence[str], None] = "0007_simulations"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A notification's channel is "<EMAIL|SMS>:<cpf>": one recipient and one medium, across orders.
    op.create_index("ix_order_deliveries_channel_first", "order_deliveries", ["channel", "first_attempt_at"])
    # One row per capped channel, locked by the claim that counts it (two batches, one person: one at a time).
    op.create_table(
        "notification_recipients",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_notification_recipients"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("notification_recipients")
    op.drop_index("ix_order_deliveries_channel_first", table_name="order_deliveries")
