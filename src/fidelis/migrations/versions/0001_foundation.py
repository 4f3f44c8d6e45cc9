"""Foundation: tenants, API keys, customers and the ledger (accounts, transfers, entries, lots).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fidelis.migrations.tenant_key import tenant_key

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("program", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.UniqueConstraint("slug", name="uq_tenant_slug"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
        sa.Column("token", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("revoked_at", UTC_DT, nullable=True),
        sa.UniqueConstraint("token", name="uq_api_key_token"),
    )
    op.create_index("ix_api_key_tenant_id", "api_key", ["tenant_id"])

    op.create_table(
        "customer",
        *tenant_key("customer"),
        sa.Column("original_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("email_key", sa.String(255)),
        sa.Column("document", sa.String(14)),
        sa.Column("name", sa.String(255)),
        sa.Column("phone", sa.String(50)),
        sa.Column("birthday_date", UTC_DT),
        sa.Column("signup_date", UTC_DT),
        sa.Column("is_enrolled", sa.Boolean, nullable=False),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("status_reason", sa.String(1000)),
        sa.Column("settle_at", UTC_DT),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.UniqueConstraint("tenant_id", "original_id", name="uq_customer_tenant_id_original_id"),
        sa.UniqueConstraint("tenant_id", "email_key", name="uq_customer_tenant_id_email_key"),
        sa.UniqueConstraint("tenant_id", "document", name="uq_customer_tenant_id_document"),
    )
    op.create_table(
        "account",
        *tenant_key("account"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "customer_id", "kind", name="uq_account_tenant_id_customer_id_kind"
        ),
    )
    op.create_table(
        "transfer",
        *tenant_key("transfer"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("point_type", sa.Integer),
        sa.Column("reason", sa.String(1000)),
        sa.Column("customer_reason", sa.String(255)),
        sa.Column("change_key", sa.String(200)),
        sa.Column("reverses_id", sa.BigInteger),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.UniqueConstraint("tenant_id", "reverses_id", name="uq_transfer_tenant_id_reverses_id"),
        sa.CheckConstraint("amount > 0", name="ck_transfer_amount_positive"),
    )
    op.create_index("ix_transfer_customer", "transfer", ["tenant_id", "customer_id", "id"])
    op.create_table(
        "entry",
        *tenant_key("entry"),
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_entry_amount_nonzero"),
    )
    op.create_index("ix_entry_transfer", "entry", ["tenant_id", "transfer_id"])
    op.create_index("ix_entry_account", "entry", ["tenant_id", "account_id"])
    op.create_table(
        "lot",
        *tenant_key("lot"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("available_at", UTC_DT, nullable=False),
        sa.Column("expires_at", UTC_DT),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_lot_amount_positive"),
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="ck_lot_remaining_range"),
        sa.CheckConstraint("held >= 0 AND held <= remaining", name="ck_lot_held_range"),
        sa.CheckConstraint(
            "status IN ('pending', 'available', 'expired')", name="ck_lot_status_known"
        ),
    )
    op.create_index("ix_lot_customer", "lot", ["tenant_id", "customer_id", "status"])
    op.create_table(
        "lot_movement",
        *tenant_key("lot_movement"),
        sa.Column("lot_id", sa.BigInteger, nullable=False),
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("consumed", sa.BigInteger, nullable=False),
        sa.CheckConstraint("consumed <> 0", name="ck_lot_movement_consumed_nonzero"),
    )
    op.create_index("ix_lot_movement_lot", "lot_movement", ["tenant_id", "lot_id"])
    op.create_index("ix_lot_movement_transfer", "lot_movement", ["tenant_id", "transfer_id"])
    op.create_table(
        "hold",
        *tenant_key("hold"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("captured", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transfer_id", sa.BigInteger, nullable=False),
        sa.Column("expires_at", UTC_DT),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("resolved_at", UTC_DT),
        sa.CheckConstraint("amount > 0", name="ck_hold_amount_positive"),
        sa.CheckConstraint("captured >= 0 AND captured <= amount", name="ck_hold_captured_range"),
        sa.CheckConstraint(
            "status IN ('active', 'captured', 'released', 'expired')", name="ck_hold_status_known"
        ),
    )
    op.create_index("ix_hold_customer", "hold", ["tenant_id", "customer_id", "status"])
    op.create_table(
        "hold_part",
        *tenant_key("hold_part"),
        sa.Column("hold_id", sa.BigInteger, nullable=False),
        sa.Column("lot_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_hold_part_amount_positive"),
    )
    op.create_index("ix_hold_part_hold", "hold_part", ["tenant_id", "hold_id"])
    op.create_table(
        "idempotency_key",
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenant.id"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.BigInteger),
        sa.Column("transfer_id", sa.BigInteger),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "scope", "key", name="pk_idempotency_key"),
    )


def downgrade() -> None:
    for table in (
        "idempotency_key",
        "hold_part",
        "hold",
        "lot_movement",
        "lot",
        "entry",
        "transfer",
        "account",
        "customer",
        "api_key",
        "tenant",
    ):
        op.drop_table(table)
