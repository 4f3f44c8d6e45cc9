"""A lock's token is unique on its own, and the commit function looks locks up by it alone
(`fidelis.ledger.pgfunctions.COMMIT_LOCK_NOW_V2`).

Migration 0016 says how plans made on a new install's empty tables pick any index that starts
with `tenant_id`. `cashback_lock` had two such unique indexes, the primary key `(tenant_id,
id)` and `(tenant_id, token)`, and a lock looked up by id was planned on the token's index and
one looked up by token on the primary key, each reading every lock of the tenant. A token is
192 random bits (`lock.service`), so it is unique across tenants as well: the index on the
token alone cannot serve a lookup by id, and the primary key is the only index that can. Every
lookup still names the tenant.

SQLite keeps its `(tenant_id, token)` constraint besides (dropping it means rebuilding the
table); the new index implies it, and SQLite's planner prefers the index that matches a
lookup in full.

The commit function now finds the lock by its token alone and checks the tenant right after:
with the tenant in the lookup, the primary key (`tenant_id` first) could still be planned for
it. It also finds the hold by id and customer, which `ix_hold_customer` serves as well as the
primary key does.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

_INDEX_SCANS_ONLY = "ALTER FUNCTION fidelis_commit_lock_now SET enable_seqscan = off"

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_cashback_lock_token", "cashback_lock", ["token"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_cashback_lock_tenant_id_token", "cashback_lock", type_="unique")
        op.execute(pgfunctions.COMMIT_LOCK_NOW_V2)
        op.execute(_INDEX_SCANS_ONLY)  # a replaced function loses its settings


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            pgfunctions.COMMIT_LOCK_NOW_V1.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
        )
        op.execute(_INDEX_SCANS_ONLY)
        op.create_unique_constraint(
            "uq_cashback_lock_tenant_id_token", "cashback_lock", ["tenant_id", "token"]
        )
    op.drop_index("uq_cashback_lock_token", table_name="cashback_lock")
