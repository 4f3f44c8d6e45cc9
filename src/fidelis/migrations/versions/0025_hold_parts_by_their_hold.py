"""A commit reads its hold's parts by the hold alone, through an index that does not start with
`tenant_id` (`fidelis.ledger.pgfunctions.COMMIT_LOCK_NOW_V4`; migration 0019 says why, for
lots and holds). PostgreSQL only; SQLite takes the general path.

On a new database, the benchmark's commits slowed down as the locks grew (W2 at 1 015, then
778 purchases/s a minute later, PostgreSQL's CPU a purchase 467 then 743 us): the statistics
counted every part of the tenant read for each commit, through the primary key, which gives a
tenant's parts in id order, the order the commit asks for.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_hold_part_hold_id", "hold_part", ["hold_id", "id"])
    op.execute(pgfunctions.COMMIT_LOCK_NOW_V4)
    op.execute(pgfunctions.index_scans_only("fidelis_commit_lock_now"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.COMMIT_LOCK_NOW_V3)
    op.execute(pgfunctions.index_scans_only("fidelis_commit_lock_now"))
    op.drop_index("ix_hold_part_hold_id", table_name="hold_part")
