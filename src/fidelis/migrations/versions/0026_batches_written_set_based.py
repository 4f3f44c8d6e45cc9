"""A batch of credits, cashback locks or commits writes each table once for all its items, one
statement per write (`fidelis.ledger.pgfunctions.CREDIT_MANY_V2`, `LOCK_MANY_V2`,
`COMMIT_LOCK_MANY_V2`), where
the first batch forms ran every item's statements in turn; their statements join by nested
loops over indexes only (`nested_loops_only`). PostgreSQL only; SQLite has no batch forms.

Under pgbench, batches of eight credits to random customers of the benchmark's database
(`fidelis_credit_now_for_key_many` alone, two clients): 395-422 batches/s before, 526-579
after.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

SET_BASED = [
    (pgfunctions.CREDIT_MANY_V2, "fidelis_credit_now_for_key_many"),
    (pgfunctions.LOCK_MANY_V2, "fidelis_lock_now_many"),
    (pgfunctions.COMMIT_LOCK_MANY_V2, "fidelis_commit_lock_now_many"),
]
ONE_BY_ONE = [
    (pgfunctions.CREDIT_MANY_V1, "fidelis_credit_now_for_key_many"),
    (pgfunctions.LOCK_MANY_V1, "fidelis_lock_now_many"),
    (pgfunctions.COMMIT_LOCK_MANY_V1, "fidelis_commit_lock_now_many"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement, name in SET_BASED:
        op.execute(statement)
        op.execute(pgfunctions.nested_loops_only(name))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement, name in ONE_BY_ONE:
        op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        op.execute(pgfunctions.index_scans_only(name))
