"""The rewards catalogue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reward",
        *tenant_key("reward"),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.String(2000)),
        sa.Column("reward_type", sa.Integer, nullable=False),
        sa.Column("value_cents", sa.BigInteger),
        sa.Column("points", sa.BigInteger),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("minimal_value_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cumulative_discount", sa.Boolean, nullable=False),
        sa.Column("valid_days", sa.Integer),
        sa.Column("code_prefix", sa.String(20)),
        sa.Column("coupon_code_length", sa.Integer, nullable=False, server_default="8"),
        sa.Column("has_same_customer_usage_limit", sa.Boolean, nullable=False),
        sa.Column("same_customer_usage_limit", sa.Integer),
        sa.Column("has_global_usage_limit", sa.Boolean, nullable=False),
        sa.Column("global_usage_limit", sa.Integer),
        sa.Column("valid_date_start", UTC_DT),
        sa.Column("valid_date_end", UTC_DT),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.CheckConstraint("reward_type >= 0 AND reward_type <= 4", name="ck_reward_type_known"),
        sa.CheckConstraint("points >= 0", name="ck_reward_points_not_negative"),
        sa.CheckConstraint("minimal_value_cents >= 0", name="ck_reward_minimal_value_not_negative"),
        sa.CheckConstraint(
            "coupon_code_length >= 4 AND coupon_code_length <= 32",
            name="ck_reward_coupon_code_length_range",
        ),
    )


def downgrade() -> None:
    op.drop_table("reward")
