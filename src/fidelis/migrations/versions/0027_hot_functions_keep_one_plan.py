"""The hot paths' functions keep one plan per statement for the session instead of planning
some statements again at every call (`fidelis.ledger.pgfunctions.one_plan`). PostgreSQL only;
SQLite has no functions.

Planning was 9% of PostgreSQL's time under the benchmark's purchases (W2) and 13% under its
points adds (W1), in the backends' call graphs (`perf record --call-graph dwarf`); 0% after.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in pgfunctions.HOT_FUNCTIONS:
        op.execute(pgfunctions.one_plan(name))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in pgfunctions.HOT_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {name} RESET plan_cache_mode")
