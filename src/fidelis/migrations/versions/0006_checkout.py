"""Checkout cashback: the checkouts a customer applied cashback on, and checkout redemptions
(held points, no reward configuration, spent only when an order uses their code).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkout",
        *tenant_key("checkout"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("checkout_ref", sa.String(200), nullable=False),
        sa.Column("total_cents", sa.BigInteger),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_id",
            "checkout_ref",
            name="uq_checkout_tenant_id_customer_id_checkout_ref",
        ),
    )
    with op.batch_alter_table("redemption") as batch:
        batch.alter_column("reward_id", existing_type=sa.BigInteger, nullable=True)
        batch.alter_column("transfer_id", existing_type=sa.BigInteger, nullable=True)
        batch.add_column(sa.Column("checkout_ref", sa.String(200)))
        batch.add_column(sa.Column("hold_id", sa.BigInteger))
        batch.add_column(sa.Column("hold_expires_at", UTC_DT))
    op.create_index(
        "ix_redemption_open_hold",
        "redemption",
        ["tenant_id", "customer_id", "hold_expires_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_redemption_open_hold", table_name="redemption")
    with op.batch_alter_table("redemption") as batch:
        batch.drop_column("hold_expires_at")
        batch.drop_column("hold_id")
        batch.drop_column("checkout_ref")
        batch.alter_column("transfer_id", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("reward_id", existing_type=sa.BigInteger, nullable=False)
    op.drop_table("checkout")
