"""Every table, in one place. Repositories build their statements from these.

Tenant-owned tables carry `tenant_id` and their primary key is `(tenant_id, id)`, with every
unique constraint including `tenant_id`, so the schema can be distributed by tenant (Citus)
without changes. `tenant` and `api_key` are the control plane (reference tables there).

On SQLite, where a composite key cannot auto-increment, the migration declares `id` as the
rowid-backed `INTEGER PRIMARY KEY`; queries never depend on that difference.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from fidelis.db.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")

tenant = Table(
    "tenant",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    # Program settings as a validated document (fidelis.program.schemas.ProgramSettings).
    Column("program", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_key = Table(
    "api_key",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False, index=True),
    Column("token", String(100), nullable=False, unique=True),
    # SHA-256 of the secret: the secret is 256 random bits, so a fast hash is enough.
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

customer = Table(
    "customer",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("original_id", String(200), nullable=False),
    Column("email", String(255), nullable=True),
    # Lower-cased e-mail: lookups by e-mail are case-insensitive.
    Column("email_key", String(255), nullable=True),
    # Digits only, check digits validated.
    Column("document", String(14), nullable=True),
    Column("name", String(255), nullable=True),
    Column("phone", String(50), nullable=True),
    Column("birthday_date", UtcDateTime, nullable=True),
    Column("signup_date", UtcDateTime, nullable=True),
    Column("is_enrolled", Boolean, nullable=False),
    Column("is_enabled", Boolean, nullable=False),
    Column("status_reason", String(1000), nullable=True),
    # No lot of this customer becomes available or expires before this instant (a lower bound:
    # settling finds nothing due when it is early, never misses an event when it is right).
    Column("settle_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "original_id"),
    UniqueConstraint("tenant_id", "email_key"),
    UniqueConstraint("tenant_id", "document"),
    Index(
        "ix_customer_settle_at",
        "tenant_id",
        "settle_at",
        postgresql_where=text("settle_at IS NOT NULL"),
        sqlite_where=text("settle_at IS NOT NULL"),
    ),
)

account = Table(
    "account",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    # Cached: always equal to the sum of this account's entries (`fidelis ledger check`).
    Column("balance", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "customer_id", "kind"),
)

transfer = Table(
    "transfer",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # What the customer's history shows: the signed effect on their points (0 = not shown) and
    # its PointType. Fixed when written, so a reversal can show the opposite of its original.
    Column("points", BigInteger, nullable=False),
    Column("point_type", Integer, nullable=True),
    Column("reason", String(1000), nullable=True),
    Column("customer_reason", String(255), nullable=True),
    Column("change_key", String(200), nullable=True),
    Column("reverses_id", BigInteger, nullable=True),
    # The store's id of the order this movement belongs to (earnings and their reversals).
    Column("order_ref", String(200), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # A credit's lot's expiry, copied (a lot's expiry never changes; `ledger check` compares
    # them): the history shows it per movement without a lookup of the lot (migration 0020).
    Column("expires_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    # A transfer is reversed at most once (an index over reversals only).
    Index(
        "uq_transfer_reversal",
        "tenant_id",
        "reverses_id",
        unique=True,
        postgresql_where=text("reverses_id IS NOT NULL"),
        sqlite_where=text("reverses_id IS NOT NULL"),
    ),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_transfer_customer", "tenant_id", "customer_id", "id"),
)

entry = Table(
    "entry",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    # Signed: the entries of one transfer sum to zero.
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("amount <> 0", name="amount_nonzero"),
    Index("ix_entry_transfer", "tenant_id", "transfer_id"),
    Index("ix_entry_account", "tenant_id", "account_id"),
)

lot = Table(
    "lot",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("origin", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # Cached: amount minus the sum of this lot's movements' consumption.
    Column("remaining", BigInteger, nullable=False),
    # Part of `remaining` reserved by open holds (checkout redemptions, cashback locks).
    Column("held", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("available_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_range"),
    CheckConstraint("held >= 0 AND held <= remaining", name="held_range"),
    CheckConstraint("status IN ('pending', 'available', 'expired')", name="status_known"),
    # PostgreSQL also has `ix_lot_id` (id) and `ix_lot_owner` (customer_id, status), for the
    # lock and commit functions' lookups that no `tenant_id` index can serve (migration 0019).
    Index("ix_lot_customer", "tenant_id", "customer_id", "status"),
    Index("ix_lot_transfer", "tenant_id", "transfer_id"),
    Index(
        "ix_lot_expiring",
        "tenant_id",
        "customer_id",
        "expires_at",
        postgresql_where=text("status = 'available' AND expires_at IS NOT NULL"),
        sqlite_where=text("status = 'available' AND expires_at IS NOT NULL"),
    ),
)

lot_movement = Table(
    "lot_movement",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("lot_id", BigInteger, nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    # Points taken from the lot (positive) or given back to it (negative).
    Column("consumed", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("consumed <> 0", name="consumed_nonzero"),
    Index("ix_lot_movement_lot", "tenant_id", "lot_id"),
    Index("ix_lot_movement_transfer", "tenant_id", "transfer_id"),
)

hold = Table(
    "hold",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    # What reserved the points: "checkout" (checkout redemption) or "lock" (cashback lock).
    Column("purpose", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("captured", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("captured >= 0 AND captured <= amount", name="captured_range"),
    CheckConstraint("status IN ('active', 'captured', 'released', 'expired')", name="status_known"),
    # PostgreSQL also has `ix_hold_id` (id), for the commit function (migration 0019).
    Index("ix_hold_customer", "tenant_id", "customer_id", "status"),
)

hold_part = Table(
    "hold_part",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("hold_id", BigInteger, nullable=False),
    Column("lot_id", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    # Ends with the id: a hold's parts in their order (migration 0016 says why it matters).
    # PostgreSQL also has `ix_hold_part_hold_id` (hold_id, id), for the commit function
    # (migration 0025).
    Index("ix_hold_part_hold", "tenant_id", "hold_id", "id"),
)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    # One namespace per kind of key: "change" (ChangeKey), "redeem" (OriginalKey), ...
    Column("scope", String(16), nullable=False),
    Column("key", String(200), nullable=False),
    # SHA-256 of the canonical request: same key + other request is told apart from a replay.
    Column("request_hash", String(64), nullable=False),
    Column("customer_id", BigInteger, nullable=True),
    Column("transfer_id", BigInteger, nullable=True),
    # The answer given the first time, for keys whose replay repeats it (CancelKey, ...).
    Column("result", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "scope", "key"),
)

# An order ("purchase": ORDER is an SQL keyword). Money in centavos.
purchase = Table(
    "purchase",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("original_id", String(200), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    # 1 Pending, 2 Completed, 3 Cancelled.
    Column("state", Integer, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("refunded_cents", BigInteger, nullable=False),
    Column("earned_points", BigInteger, nullable=False),
    Column("reversed_points", BigInteger, nullable=False),
    Column("earn_transfer_id", BigInteger, nullable=True),
    Column("coupon", String(200), nullable=True),
    # The redemption linked by `coupon` (its ExternalCode or coupon code), once linked.
    Column("redemption_id", BigInteger, nullable=True),
    Column("status_text", String(200), nullable=True),
    Column("placed_at", UtcDateTime, nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("cancelled_at", UtcDateTime, nullable=True),
    # Products, branch, sales person and metadata as the store sent them.
    Column("details", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "original_id"),
    CheckConstraint("state IN (1, 2, 3)", name="state_known"),
    CheckConstraint("refunded_cents >= 0 AND refunded_cents <= total_cents", name="refund_range"),
    CheckConstraint(
        "reversed_points >= 0 AND reversed_points <= earned_points", name="reversed_range"
    ),
    # Partial (migration 0022), so only the lookups they serve can use them: a lookup by the
    # order's id must find the unique (tenant_id, original_id), whatever the statistics.
    Index(
        "ix_purchase_coupon",
        "tenant_id",
        "coupon",
        postgresql_where=text("coupon IS NOT NULL"),
        sqlite_where=text("coupon IS NOT NULL"),
    ),
    Index(
        "uq_purchase_redemption",
        "tenant_id",
        "redemption_id",
        unique=True,
        postgresql_where=text("redemption_id IS NOT NULL"),
        sqlite_where=text("redemption_id IS NOT NULL"),
    ),
)

# A reward of the catalogue. Its configuration only: redemptions keep their own copy of what
# they spent, so changing or deactivating a reward never touches past redemptions.
reward = Table(
    "reward",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", String(2000), nullable=True),
    # 0 PercentDiscount, 1 FixedValueDiscount, 2 FreeShipping, 3 Cashback, 4 Custom.
    Column("reward_type", Integer, nullable=False),
    # Value x 100: centavos for R$ values, hundredths of a percent for PercentDiscount
    # (12.5% is 1250). Null for Cashback, whose value is chosen at redemption.
    Column("value_cents", BigInteger, nullable=True),
    # The cost in points; null for Cashback (it spends points worth the value redeemed).
    Column("points", BigInteger, nullable=True),
    Column("is_active", Boolean, nullable=False),
    # Minimum purchase, in centavos.
    Column("minimal_value_cents", BigInteger, nullable=False, server_default="0"),
    Column("cumulative_discount", Boolean, nullable=False),
    # Days a generated coupon stays valid (null: no expiry).
    Column("valid_days", Integer, nullable=True),
    Column("code_prefix", String(20), nullable=True),
    Column("coupon_code_length", Integer, nullable=False, server_default="8"),
    Column("has_same_customer_usage_limit", Boolean, nullable=False),
    Column("same_customer_usage_limit", Integer, nullable=True),
    Column("has_global_usage_limit", Boolean, nullable=False),
    Column("global_usage_limit", Integer, nullable=True),
    Column("valid_date_start", UtcDateTime, nullable=True),
    Column("valid_date_end", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    CheckConstraint("reward_type >= 0 AND reward_type <= 4", name="type_known"),
    CheckConstraint("points >= 0", name="points_not_negative"),
    CheckConstraint("minimal_value_cents >= 0", name="minimal_value_not_negative"),
    CheckConstraint(
        "coupon_code_length >= 4 AND coupon_code_length <= 32", name="coupon_code_length_range"
    ),
)

# A redemption of a reward (point of sale for now). It keeps its own copy of what it spent, so
# changing the reward never touches it. Cancelling reverses `transfer_id` (points go back to
# their lots) and records the reversal in `cancel_transfer_id`.
redemption = Table(
    "redemption",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    # Null for a checkout redemption (cashback at checkout uses no reward configuration).
    Column("reward_id", BigInteger, nullable=True),
    Column("reward_type", Integer, nullable=False),
    # Short, upper-case, unambiguous: typed at a till.
    Column("external_code", String(20), nullable=False),
    # Only when a coupon was generated (CodePrefix + random code).
    Column("coupon_code", String(60), nullable=True),
    Column("coupon_valid_until", UtcDateTime, nullable=True),
    Column("original_key", String(200), nullable=True),
    Column("points", BigInteger, nullable=False),
    # Value x 100: the discount (R$ or percent) or the cashback R$ used.
    Column("value_cents", BigInteger, nullable=True),
    # The spending transfer; null while a checkout redemption's points are only held.
    Column("transfer_id", BigInteger, nullable=True),
    Column("cancel_transfer_id", BigInteger, nullable=True),
    Column("is_canceled", Boolean, nullable=False),
    # Checkout redemptions: the checkout, and the hold that reserves the points until an order
    # uses the code (then captured) or the hold runs out (then refunded).
    Column("checkout_ref", String(200), nullable=True),
    Column("hold_id", BigInteger, nullable=True),
    Column("hold_expires_at", UtcDateTime, nullable=True),
    Column("order_ref", String(200), nullable=True),
    # 0 LandingPage, 1 Widget, 2 Copilot, 3 Checkout, 4 API, 5 PDV.
    Column("redeem_origin", Integer, nullable=True),
    # Branch, SalesPerson and Metadatas as the store sent them.
    Column("details", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("canceled_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "external_code"),
    UniqueConstraint("tenant_id", "coupon_code"),
    CheckConstraint("points > 0", name="points_positive"),
    Index("ix_redemption_customer", "tenant_id", "customer_id"),
    Index("ix_redemption_reward", "tenant_id", "reward_id"),
    Index("ix_redemption_original_key", "tenant_id", "original_key"),
    Index("ix_redemption_open_hold", "tenant_id", "customer_id", "hold_expires_at"),
    # The history finds a movement's redemption by either transfer (migration 0022).
    Index(
        "ix_redemption_transfer",
        "tenant_id",
        "transfer_id",
        postgresql_where=text("transfer_id IS NOT NULL"),
        sqlite_where=text("transfer_id IS NOT NULL"),
    ),
    Index(
        "ix_redemption_cancel_transfer",
        "tenant_id",
        "cancel_transfer_id",
        postgresql_where=text("cancel_transfer_id IS NOT NULL"),
        sqlite_where=text("cancel_transfer_id IS NOT NULL"),
    ),
)

# A checkout (cart) of the store's e-commerce platform on which a customer asked for cashback.
checkout = Table(
    "checkout",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("checkout_ref", String(200), nullable=False),
    Column("total_cents", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "customer_id", "checkout_ref"),
)

# A cashback lock of the reservation API: points held for one purchase until committed (spent),
# rolled back, or expired (`expires_at` passed: its hold runs out with it).
cashback_lock = Table(
    "cashback_lock",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenant.id"), nullable=False),
    Column("id", Id, server_default=FetchedValue(), nullable=False),
    Column("token", String(64), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("hold_id", BigInteger, nullable=False),
    # 'active' past `expires_at` reads as expired (`lock.repository.CashbackLock.status_at`).
    Column("status", String(16), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("committed_points", BigInteger, nullable=True),
    Column("capture_transfer_id", BigInteger, nullable=True),
    # The reversal of the capture when the order it paid for was cancelled.
    Column("refund_transfer_id", BigInteger, nullable=True),
    Column("order_ref", String(200), nullable=True),
    Column("lock_key", String(200), nullable=True),
    Column("total_cents", BigInteger, nullable=False),
    # store_id, seller_id, source, vouchers, custom_data as the caller sent them.
    Column("details", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    # The token alone (192 random bits): no lookup by id can take this index (migration 0017).
    Index("uq_cashback_lock_token", "token", unique=True),
    CheckConstraint("points > 0", name="points_positive"),
    CheckConstraint(
        "status IN ('active', 'committed', 'rolled_back', 'expired')", name="status_known"
    ),
    # Locks with an order only, so no lookup by id or token can take it (migration 0016).
    Index(
        "ix_cashback_lock_order",
        "tenant_id",
        "order_ref",
        postgresql_where=text("order_ref IS NOT NULL"),
        sqlite_where=text("order_ref IS NOT NULL"),
    ),
)

# Failed authentication attempts per client address (control plane, no tenant): throttling that
# every server process shares (`fidelis.throttle`). `scope` names the door ("api", ...).
auth_failure = Table(
    "auth_failure",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("client", String(64), nullable=False),
    Column("failed_at", UtcDateTime, nullable=False),
    Index("ix_auth_failure_client", "scope", "client", "failed_at"),
)
