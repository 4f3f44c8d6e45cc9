"""Orders, the order a transfer belongs to, and stored results of replayable keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "purchase",
        *tenant_key("purchase"),
        sa.Column("original_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("refunded_cents", sa.BigInteger, nullable=False),
        sa.Column("earned_points", sa.BigInteger, nullable=False),
        sa.Column("reversed_points", sa.BigInteger, nullable=False),
        sa.Column("earn_transfer_id", sa.BigInteger),
        sa.Column("coupon", sa.String(200)),
        sa.Column("status_text", sa.String(200)),
        sa.Column("placed_at", UTC_DT),
        sa.Column("completed_at", UTC_DT),
        sa.Column("cancelled_at", UTC_DT),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.UniqueConstraint("tenant_id", "original_id", name="uq_purchase_tenant_id_original_id"),
        sa.CheckConstraint("state IN (1, 2, 3)", name="ck_purchase_state_known"),
        sa.CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= total_cents",
            name="ck_purchase_refund_range",
        ),
        sa.CheckConstraint(
            "reversed_points >= 0 AND reversed_points <= earned_points",
            name="ck_purchase_reversed_range",
        ),
    )
    op.create_index("ix_purchase_coupon", "purchase", ["tenant_id", "coupon"])
    with op.batch_alter_table("transfer") as batch:
        batch.add_column(sa.Column("order_ref", sa.String(200)))
    with op.batch_alter_table("idempotency_key") as batch:
        batch.add_column(sa.Column("result", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_key") as batch:
        batch.drop_column("result")
    with op.batch_alter_table("transfer") as batch:
        batch.drop_column("order_ref")
    op.drop_table("purchase")
