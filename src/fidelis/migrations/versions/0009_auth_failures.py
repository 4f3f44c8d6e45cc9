"""Failed authentication attempts of the API's credentials, for throttling shared by all server
processes (`fidelis.throttle`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_failure",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("failed_at", UTC_DT, nullable=False),
    )
    op.create_index("ix_auth_failure_client", "auth_failure", ["scope", "client", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_failure_client", table_name="auth_failure")
    op.drop_table("auth_failure")
