"""Customers found by when something of theirs falls due: `jobs run` asks each tenant whether a
customer of theirs is due (`settle_at <= now`), then locks that tenant's due customers, soonest
first. Both are a range of this index, tenant first; without it both read every customer of
every tenant at each pass.

Only customers with something scheduled are indexed, so the index stays as small as the work
it finds; a credit writes `settle_at` only when its event comes sooner than any before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_SCHEDULED = sa.text("settle_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_customer_settle_at",
        "customer",
        ["tenant_id", "settle_at"],
        postgresql_where=_SCHEDULED,
        sqlite_where=_SCHEDULED,
    )


def downgrade() -> None:
    op.drop_index("ix_customer_settle_at", table_name="customer")
