"""The console's failed logins move to `auth_failure` (scope "console"): one throttling
mechanism for every door.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_console_login_failure_client", table_name="console_login_failure")
    op.drop_table("console_login_failure")


def downgrade() -> None:
    op.create_table(
        "console_login_failure",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("failed_at", UTC_DT, nullable=False),
    )
    op.create_index(
        "ix_console_login_failure_client", "console_login_failure", ["client", "failed_at"]
    )
