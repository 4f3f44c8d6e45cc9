"""PostgreSQL functions for the two hottest requests, each one round trip and its own
transaction: `fidelis_points_summary` and `fidelis_credit_now` (`fidelis.ledger.pgfunctions`
says what they do). SQLite has neither; there the general path is the only one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.SUMMARY_V1)
    op.execute(pgfunctions.CREDIT_NOW_V1)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION fidelis_credit_now")
    op.execute("DROP FUNCTION fidelis_points_summary")
