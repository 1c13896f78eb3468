"""What-if audit: one row per quorum simulation answered (docs/security.md).

Revision ID: 0007_simulations
Revises: 0006
Create Date: 2026-12-03
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007_simulations"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "quorum_simulations",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("simulated_at", Timestamp, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("company", sa.String(20), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("power_code", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(17, 2, asdecimal=True), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("operator_check", sa.Boolean(), nullable=False),
        sa.Column("unavailable_count", sa.Integer(), nullable=False),
        sa.Column("quorum_met", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("personal_data", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_quorum_simulations"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_quorum_simulations_simulated_at", "quorum_simulations", ["simulated_at"])
    op.create_index("ix_quorum_simulations_area_simulated", "quorum_simulations", ["area_code", "simulated_at"])
    op.create_index("ix_quorum_simulations_client_simulated", "quorum_simulations", ["client_id", "simulated_at"])
    op.create_index("ix_quorum_simulations_company_simulated", "quorum_simulations", ["company", "simulated_at"])


def downgrade() -> None:
    op.drop_table("quorum_simulations")
