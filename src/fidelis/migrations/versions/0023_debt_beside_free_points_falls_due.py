"""Customers who owe points and have free points at once fall due: since 2026-12-05 any points
that come back pay off debt first, but a ledger written before could leave both (a redemption
cancelled, a lock rolled back or run out while the customer owed points). Settling pays such a
debt off from the free points (`ledger.service.settle`), so those customers are made due now:
reads show it at once, and the next writer or `jobs run` writes it down.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from fidelis.db.types import UtcDateTime
from fidelis.ledger import backfills

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.bindparam("now", datetime.now(UTC), type_=UtcDateTime)
    op.execute(sa.text(backfills.DEBT_BESIDE_FREE_POINTS_DUE_V1).bindparams(now))


def downgrade() -> None:
    # Nothing to undo: being due early only makes settling look, and it finds what it finds.
    pass
