"""The batch forms of the hot paths' writes: credits, cashback locks and their commits of
several requests in one call (`fidelis.ledger.pgfunctions`, `fidelis.db.batches`).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH_FORMS = [
    pgfunctions.CREDIT_MANY_V1,
    pgfunctions.LOCK_MANY_V1,
    pgfunctions.COMMIT_LOCK_MANY_V1,
]
NAMES = [
    "fidelis_credit_now_for_key_many",
    "fidelis_lock_now_many",
    "fidelis_commit_lock_now_many",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in BATCH_FORMS:
            op.execute(statement)
        for name in NAMES:
            op.execute(pgfunctions.index_scans_only(name))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in NAMES:
            op.execute(f"DROP FUNCTION {name}")
