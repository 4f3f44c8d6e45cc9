"""Admin console: failed login attempts, shared by every server process (throttling).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Control plane (no tenant): the console has one password for the whole installation.
    op.create_table(
        "console_login_failure",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("failed_at", UTC_DT, nullable=False),
    )
    op.create_index(
        "ix_console_login_failure_client", "console_login_failure", ["client", "failed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_console_login_failure_client", table_name="console_login_failure")
    op.drop_table("console_login_failure")
