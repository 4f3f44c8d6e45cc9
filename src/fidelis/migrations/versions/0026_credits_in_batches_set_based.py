"""A batch of credits writes each table once for all its items, one statement per write
(`fidelis.ledger.pgfunctions.CREDIT_MANY_V2`), where the first batch form ran every item's
statements in turn. PostgreSQL only; SQLite has no batch forms.

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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.CREDIT_MANY_V2)
    op.execute(pgfunctions.index_scans_only("fidelis_credit_now_for_key_many"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.CREDIT_MANY_V1.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(pgfunctions.index_scans_only("fidelis_credit_now_for_key_many"))
