"""Coupon validity on redemptions; the redemption an order is linked to by its Coupon.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("redemption") as batch:
        batch.add_column(sa.Column("coupon_valid_until", UTC_DT))
    with op.batch_alter_table("purchase") as batch:
        batch.add_column(sa.Column("redemption_id", sa.BigInteger))
    # One order per redemption: a code cannot be used by two orders.
    op.create_index(
        "uq_purchase_redemption", "purchase", ["tenant_id", "redemption_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_purchase_redemption", table_name="purchase")
    with op.batch_alter_table("purchase") as batch:
        batch.drop_column("redemption_id")
    with op.batch_alter_table("redemption") as batch:
        batch.drop_column("coupon_valid_until")
