"""A cashback lock and its commit find lots and holds by keys unique across tenants, through
indexes that do not start with `tenant_id` (`fidelis.ledger.pgfunctions.LOCK_NOW_V2`,
`COMMIT_LOCK_NOW_V3`). PostgreSQL only; SQLite takes the general path for both.

Migration 0016 says how plans made on a new install's small tables take any index that starts
with `tenant_id` for a lookup that names the tenant: every estimate is one row, so an index
matching the tenant alone ties with the one matching the whole key. PL/pgSQL keeps those plans
for the session. On a new database (auto_explain of the server's sessions) the lock read its
customer's lots, and the commit updated each lot and the hold, through `ix_lot_transfer` and
`ix_hold_customer` by `tenant_id` alone: every lot or hold of the tenant read for each
purchase, a cost that grows with the tenant.

Lots and holds have ids from one sequence each, unique across tenants; customers too. The
functions now look up a lot by its id alone (`ix_lot_id`), a customer's lots by the customer
alone (`ix_lot_owner`) and the hold by its id alone (`ix_hold_id`): with no `tenant_id` in
those lookups, no index that starts with it can serve them. Each such row belongs to the
tenant by construction (the tenant's customer's lots; the hold the tenant's lock names; that
hold's parts), and the commit checks the hold's tenant and customer against the lock's.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

# A replaced function loses its settings (`pgfunctions.INDEX_SCANS_ONLY_V1` says why these).
_INDEX_SCANS_ONLY = [
    "ALTER FUNCTION fidelis_lock_now SET enable_seqscan = off",
    "ALTER FUNCTION fidelis_commit_lock_now SET enable_seqscan = off",
]

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_lot_id", "lot", ["id"])
    op.create_index("ix_lot_owner", "lot", ["customer_id", "status"])
    op.create_index("ix_hold_id", "hold", ["id"])
    op.execute(pgfunctions.LOCK_NOW_V2)
    op.execute(pgfunctions.COMMIT_LOCK_NOW_V3)
    for statement in _INDEX_SCANS_ONLY:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(pgfunctions.LOCK_NOW_V1.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(pgfunctions.COMMIT_LOCK_NOW_V2)
    for statement in _INDEX_SCANS_ONLY:
        op.execute(statement)
    op.drop_index("ix_hold_id", table_name="hold")
    op.drop_index("ix_lot_owner", table_name="lot")
    op.drop_index("ix_lot_id", table_name="lot")
