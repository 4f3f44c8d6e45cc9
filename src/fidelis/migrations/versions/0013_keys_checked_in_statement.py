"""PostgreSQL functions that let the one-statement paths authenticate in their own statement:
`fidelis_key_allows` and `fidelis_credit_now_for_key` (`fidelis.ledger.pgfunctions` says what
they do, `fidelis.tenant.keys` why). SQLite has neither.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.KEY_ALLOWS_V1)
    op.execute(pgfunctions.CREDIT_NOW_FOR_KEY_V1)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION fidelis_credit_now_for_key")
    op.execute("DROP FUNCTION fidelis_key_allows")
