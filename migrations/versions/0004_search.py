"""Search: newest-first order lists per area are read off an index, not sorted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from __future__ import annotations

from typing import Sequence, Union

from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # GET /v1/orders filtered by area only; area + status is served by ix_orders_area_status_created.
    op.create_index("ix_orders_area_created", "orders", ["area_code", "created_at", "order_key"])


def downgrade() -> None:
    op.drop_index("ix_orders_area_created", table_name="orders")
