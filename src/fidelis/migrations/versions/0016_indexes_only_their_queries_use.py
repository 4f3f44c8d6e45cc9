"""Indexes that only the queries they serve can use: PostgreSQL's plans for the ledger functions
(and the driver's prepared statements) are made once per session, and on a new install they are
made while the tables are empty, when the planner cannot tell a good index from a bad one. It
took `ix_cashback_lock_order` to find a lock by id or token (reading every lock of the tenant)
and `pk_hold_part` for a hold's parts in order (reading every part of the tenant), and kept those
plans until the tables were next analyzed: on a new database, commits slowed down as the locks
grew (W2 of the benchmark, a few seconds after install).

- `ix_cashback_lock_order` covers locks with an order only (the only ones it is read for), so
  no other lookup can take it.
- `ix_hold_part_hold` ends with the part's id, so it gives a hold's parts in their order: the
  primary key has nothing left to offer that lookup.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_WITH_ORDER = sa.text("order_ref IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_cashback_lock_order", table_name="cashback_lock")
    op.create_index(
        "ix_cashback_lock_order",
        "cashback_lock",
        ["tenant_id", "order_ref"],
        postgresql_where=_WITH_ORDER,
        sqlite_where=_WITH_ORDER,
    )
    op.drop_index("ix_hold_part_hold", table_name="hold_part")
    op.create_index("ix_hold_part_hold", "hold_part", ["tenant_id", "hold_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_hold_part_hold", table_name="hold_part")
    op.create_index("ix_hold_part_hold", "hold_part", ["tenant_id", "hold_id"])
    op.drop_index("ix_cashback_lock_order", table_name="cashback_lock")
    op.create_index("ix_cashback_lock_order", "cashback_lock", ["tenant_id", "order_ref"])
