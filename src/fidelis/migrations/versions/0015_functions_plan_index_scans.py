"""The one-statement functions plan index scans whatever the statistics say
(`fidelis.ledger.pgfunctions.INDEX_SCANS_ONLY_V1` says why). SQLite has none of them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in pgfunctions.INDEX_SCANS_ONLY_V1:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in pgfunctions.INDEX_SCANS_ONLY_V1:
        op.execute(statement.replace("SET enable_seqscan = off", "RESET enable_seqscan"))
