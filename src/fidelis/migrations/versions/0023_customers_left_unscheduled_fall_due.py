"""Customers an older version left in states settling now mends fall due at once: reads show
the result straight away, and the next writer or `jobs run` writes it down.

- Owing points beside free points: since 2026-12-05 any points that come back pay off debt
  first, but a ledger written before could leave both (a redemption cancelled, a lock rolled
  back or run out while the customer owed points). Settling pays such a debt off from the
  free points (`ledger.service.settle`).
- Something due before `settle_at` (or with none): a reversal gave points back to a lot spent
  empty without scheduling its expiry again, so those points would never expire. Settling
  schedules the customer's next event afresh.

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
    for statement in (
        backfills.DEBT_BESIDE_FREE_POINTS_DUE_V1,
        backfills.SETTLE_AT_IN_TIME_V1,
    ):
        op.execute(sa.text(statement).bindparams(now))


def downgrade() -> None:
    # Nothing to undo: being due early only makes settling look, and it finds what it finds.
    pass
