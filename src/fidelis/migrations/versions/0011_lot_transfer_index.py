"""Index lots by the transfer that created them: the history joins every movement to its lot,
which was a scan of every lot of the tenant (half a second per request at a million entries).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lot_transfer", "lot", ["tenant_id", "transfer_id"])


def downgrade() -> None:
    op.drop_index("ix_lot_transfer", table_name="lot")
