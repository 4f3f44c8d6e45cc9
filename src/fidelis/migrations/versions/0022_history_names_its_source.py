"""History items name what each movement came from: the redemption it spent or gave back
(`RewardId`) and the branch the store sent with the redemption or the order (`BranchId`,
`BranchName`). Redemptions are found by their spending and their cancelling transfer, so both
get an index (only rows that have one); the points summary function reads them through
`fidelis_history_source` (`pgfunctions.HISTORY_SOURCE_V1`, `SUMMARY_V3`).

An order is found by its id (`uq_purchase_tenant_id_original_id`). A plan made while
`purchase` is empty (a new install) finds every index on `tenant_id` as cheap, and a lookup
written inside the summary's statement took `uq_purchase_redemption`, reading every order of
the tenant for each movement for as long as the session kept the plan (migration 0016 tells
the same of locks). That index and `ix_purchase_coupon` become partial, as only the lookups
they serve read them, so no plan of a lookup by id can take them.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.ledger import pgfunctions

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_redemption_transfer": "transfer_id",
    "ix_redemption_cancel_transfer": "cancel_transfer_id",
}
# A replaced function loses its settings (`pgfunctions.INDEX_SCANS_ONLY_V1` says why).
_INDEX_SCANS_ONLY = [
    pgfunctions.index_scans_only(name)
    for name in ("fidelis_history_source", "fidelis_points_summary")
]


# Of `purchase`: (name, column, unique), partial from this revision on.
_PARTIAL = [
    ("ix_purchase_coupon", "coupon", False),
    ("uq_purchase_redemption", "redemption_id", True),
]


def _purchase_indexes(partial: bool) -> None:
    for name, column, unique in _PARTIAL:
        op.drop_index(name, table_name="purchase")
        where = sa.text(f"{column} IS NOT NULL") if partial else None
        op.create_index(
            name,
            "purchase",
            ["tenant_id", column],
            unique=unique,
            postgresql_where=where,
            sqlite_where=where,
        )


def upgrade() -> None:
    _purchase_indexes(partial=True)
    for name, column in _INDEXES.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name,
            "redemption",
            ["tenant_id", column],
            postgresql_where=where,
            sqlite_where=where,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(pgfunctions.HISTORY_SOURCE_V1)
        op.execute(pgfunctions.SUMMARY_V3)
        for statement in _INDEX_SCANS_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(pgfunctions.SUMMARY_V2)
        op.execute(_INDEX_SCANS_ONLY[-1])
        op.execute("DROP FUNCTION fidelis_history_source")
    for name in _INDEXES:
        op.drop_index(name, table_name="redemption")
    _purchase_indexes(partial=False)
