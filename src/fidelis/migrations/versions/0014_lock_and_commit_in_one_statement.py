"""PostgreSQL functions for the reservation API's lock and commit in one statement each:
`fidelis_lock_now` and `fidelis_commit_lock_now` (`fidelis.ledger.pgfunctions` says what they
do). SQLite has neither.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.LOCK_NOW_V1)
    op.execute(pgfunctions.COMMIT_LOCK_NOW_V1)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION fidelis_commit_lock_now")
    op.execute("DROP FUNCTION fidelis_lock_now")
