"""The rewards catalogue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    key: list[sa.schema.SchemaItem]
    if op.get_bind().dialect.name == "sqlite":
        key = [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
        ]
    else:
        key = [
            sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
            sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_reward"),
        ]
    op.create_table(
        "reward",
        *key,
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
