"""Resume on recovery: the partner a parked order waits for, indexed so "orders parked on X" is a query.

Revision ID: 0009_parked_on
Revises: 0008_notification_cap
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_parked_on"
down_revision: Union[str, Sequence[str], None] = "0008_notification_cap"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("parked_on", sa.String(32), nullable=True))
    op.create_index("ix_orders_parked_on", "orders", ["parked_on", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_parked_on", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("parked_on")
