"""The key of a tenant-owned table, shared by every migration.

`(tenant_id, id)` primary key with an identity `id` on PostgreSQL (so the schema distributes by
tenant); on SQLite, where a composite key cannot auto-increment, `id` is the rowid.

Migrations are frozen history: change this only by adding a new function, never by editing
this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def tenant_key(table: str) -> list[sa.schema.SchemaItem]:
    if op.get_bind().dialect.name == "sqlite":
        return [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
        ]
    return [
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
    ]
