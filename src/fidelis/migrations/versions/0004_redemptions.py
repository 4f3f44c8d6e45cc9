"""Reward redemptions (point of sale).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "redemption",
        *tenant_key("redemption"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("reward_id", sa.BigInteger, nullable=False),
        sa.Column("reward_type", sa.Integer, nullable=False),
        sa.Column("external_code", sa.String(20), nullable=False),
        sa.Column("coupon_code", sa.String(60)),
        sa.Column("original_key", sa.String(200)),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("value_cents", sa.BigInteger),
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("cancel_transfer_id", sa.BigInteger),
        sa.Column("is_canceled", sa.Boolean, nullable=False),
        sa.Column("order_ref", sa.String(200)),
        sa.Column("redeem_origin", sa.Integer),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("canceled_at", UTC_DT),
        sa.UniqueConstraint(
            "tenant_id", "external_code", name="uq_redemption_tenant_id_external_code"
        ),
        sa.UniqueConstraint("tenant_id", "coupon_code", name="uq_redemption_tenant_id_coupon_code"),
        sa.CheckConstraint("points > 0", name="ck_redemption_points_positive"),
    )
    op.create_index("ix_redemption_customer", "redemption", ["tenant_id", "customer_id"])
    op.create_index("ix_redemption_reward", "redemption", ["tenant_id", "reward_id"])
    op.create_index("ix_redemption_original_key", "redemption", ["tenant_id", "original_key"])


def downgrade() -> None:
    op.drop_index("ix_redemption_original_key", table_name="redemption")
    op.drop_index("ix_redemption_reward", table_name="redemption")
    op.drop_index("ix_redemption_customer", table_name="redemption")
    op.drop_table("redemption")
