"""Cashback locks of the reservation API (lock -> commit | rollback | expired).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cashback_lock",
        *tenant_key("cashback_lock"),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("hold_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("committed_points", sa.BigInteger),
        sa.Column("capture_transfer_id", sa.BigInteger),
        sa.Column("refund_transfer_id", sa.BigInteger),
        sa.Column("order_ref", sa.String(200)),
        sa.Column("lock_key", sa.String(200)),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("expires_at", UTC_DT, nullable=False),
        sa.Column("resolved_at", UTC_DT),
        sa.UniqueConstraint("tenant_id", "token", name="uq_cashback_lock_tenant_id_token"),
        sa.CheckConstraint("points > 0", name="ck_cashback_lock_points_positive"),
        sa.CheckConstraint(
            "status IN ('active', 'committed', 'rolled_back', 'expired')",
            name="ck_cashback_lock_status_known",
        ),
    )
    op.create_index("ix_cashback_lock_order", "cashback_lock", ["tenant_id", "order_ref"])


def downgrade() -> None:
    op.drop_index("ix_cashback_lock_order", table_name="cashback_lock")
    op.drop_table("cashback_lock")
