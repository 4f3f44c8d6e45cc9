"""A credit's transfer carries its lot's expiry (`transfer.expires_at`), so a customer's history
shows each movement's `ExpirationDate` from the movement's own row.

Before, each movement shown (up to 20 per points read) looked its credit lot up by
`(tenant_id, transfer_id)`: an index probe and a heap read per movement, a third of what a
points read of a customer with five movements cost PostgreSQL (pgbench, one client: 184 µs
a read, 153 µs without the lookups; 144 µs with no movements at all). A lot's expiry never
changes after the credit wrote it, so the copy cannot go stale; `fidelis ledger check`
compares the two all the same (`transfer-expiry`).

Existing transfers get their lot's expiry here. On PostgreSQL the credit of the hot path
(`fidelis.ledger.pgfunctions.CREDIT_NOW_V2`) writes the column and the summary
(`SUMMARY_V2`) reads it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.ledger import backfills, pgfunctions

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# A replaced function loses its settings (`pgfunctions.INDEX_SCANS_ONLY_V1` says why these).
_INDEX_SCANS_ONLY = [
    pgfunctions.index_scans_only(name) for name in ("fidelis_points_summary", "fidelis_credit_now")
]


def upgrade() -> None:
    with op.batch_alter_table("transfer") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.execute(backfills.TRANSFER_EXPIRY_V1)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.SUMMARY_V2)
    op.execute(pgfunctions.CREDIT_NOW_V2)
    for statement in _INDEX_SCANS_ONLY:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for text in (pgfunctions.SUMMARY_V1, pgfunctions.CREDIT_NOW_V1):
            op.execute(text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        for statement in _INDEX_SCANS_ONLY:
            op.execute(statement)
    with op.batch_alter_table("transfer") as batch:
        batch.drop_column("expires_at")
