"""PostgreSQL functions for the two hottest requests, each one round trip and its own
transaction: `fidelis_points_summary` and `fidelis_credit_now` (`fidelis.ledger.pgfunctions`
says what they do). SQLite has neither; there the general path is the only one.

And "a transfer is reversed at most once" becomes a partial unique index over reversals only:
ordinary transfers no longer add an entry to it, and the history's "was this reversed?" lookup
has an index that only it can use. With the full (tenant_id, reverses_id) index and the
statistics of a new, empty table, PostgreSQL chose to look reversals up through the
customer index by tenant alone, scanning every transfer of the tenant on every call.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.ledger import pgfunctions

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfer") as batch:
        batch.drop_constraint("uq_transfer_tenant_id_reverses_id", type_="unique")
    op.create_index(
        "uq_transfer_reversal",
        "transfer",
        ["tenant_id", "reverses_id"],
        unique=True,
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
    )
    # "Points to expire" sums a customer's available lots that expire: only those, by index
    # (a customer with thousands of lots that never expire no longer reads them all).
    op.create_index(
        "ix_lot_expiring",
        "lot",
        ["tenant_id", "customer_id", "expires_at"],
        postgresql_where=sa.text("status = 'available' AND expires_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'available' AND expires_at IS NOT NULL"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.SUMMARY_V1)
    op.execute(pgfunctions.CREDIT_NOW_V1)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION fidelis_credit_now")
        op.execute("DROP FUNCTION fidelis_points_summary")
    op.drop_index("ix_lot_expiring", table_name="lot")
    op.drop_index("uq_transfer_reversal", table_name="transfer")
    with op.batch_alter_table("transfer") as batch:
        batch.create_unique_constraint(
            "uq_transfer_tenant_id_reverses_id", ["tenant_id", "reverses_id"]
        )
