"""Notification cap: count a recipient's notifications per channel within a window (docs/delivery.md).

Revision ID: 0007_notification_cap
Revises: 0006
Create Date: 2026-12-03
"""
from __future__ import annotations

from typing import Sequence, Union

from alembic import op

revision: str = "0007_notification_cap"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A notification's channel is "<EMAIL|SMS>:<cpf>": one recipient and one medium, across orders.
    op.create_index("ix_order_deliveries_channel_first", "order_deliveries", ["channel", "first_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_order_deliveries_channel_first", table_name="order_deliveries")
