"""The PostgreSQL functions behind `ledger/hotpath.py`, as migrations install them.

They write the ledger's tables, so their text lives in the ledger package; each is versioned
by name (`_V1`, ...): a migration installs one version, and a change is a new constant and a
new migration, never an edit of one a migration already uses.

- `fidelis_points_summary(tenant, customer, now, history)`: a settled customer's Points Response
  data (cached balances, free points per expiry, the newest movements) as one JSON document; the
  same reads as `customer.service.points_summary` does statement by statement. PL/pgSQL rather
  than SQL because PL/pgSQL keeps its statements' plans for the session (an SQL function is
  planned again at every call: 1.7 ms of a 2 ms call here).
- `fidelis_history_source(tenant, transfer, point type, order)`: what a history item came
  from (its redemption and branch), for the summary's movements of redemptions and orders.
- `fidelis_credit_now(...)`: a manual credit of available points (`ledger.service.credit` with
  the ChangeKey claim of `adjustment.service`), then the summary. It applies only to the plain
  case — customer found by OriginalId, enabled, nothing due to settle, no debt, key not used —
  and otherwise returns no row having written nothing, so the caller runs the general path,
  which raises the right error or does the rarer work (settling, paying off debt).
- `fidelis_key_allows(tenant, key, program, scope, client, since, failures)`: whether the API
  key is still active and the tenant's, the tenant's program settings are still the text the
  caller prepared the request with, and the client has fewer than `failures` failed attempts
  in `scope` since `since` (`tenant.keys` says why the hot paths ask in their own statement).
- `fidelis_credit_now_for_key(...)`: `fidelis_credit_now` if `fidelis_key_allows`, else no row.
- `fidelis_lock_now(...)` and `fidelis_commit_lock_now(...)`: a cashback lock of the
  reservation API (`lock.service.lock` over `ledger.service.hold`) and its commit in full
  (`lock.service.commit` over `ledger.service.capture`), for the plain case: customer found by
  OriginalId, enabled, nothing due to settle, no debt, no `lock_key`; the lock still active and
  captured whole. They write the lock's own row (`cashback_lock`) as well as the ledger's.
  `COMMIT_LOCK_NOW_V2` (migration 0017) finds the lock by its token alone and checks the
  tenant right after, so the lookup can only be planned on the token's own unique index.
"""

from __future__ import annotations

SUMMARY_V1 = """
CREATE FUNCTION fidelis_points_summary(
    p_tenant integer, p_customer bigint, p_now timestamptz, p_history integer
) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
RETURN json_build_object(
    'balances', (
        SELECT coalesce(json_object_agg(a.kind, a.balance), '{}'::json)
        FROM account a
        WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer
          AND a.kind IN ('available', 'pending', 'held', 'debt')),
    'expiring', (
        SELECT coalesce(json_agg(json_build_array(e.expires_at, e.points)
                                 ORDER BY e.expires_at), '[]'::json)
        FROM (SELECT l.expires_at, sum(l.remaining - l.held) AS points
              FROM lot l
              WHERE l.tenant_id = p_tenant AND l.customer_id = p_customer
                AND l.status = 'available' AND l.expires_at IS NOT NULL
                AND l.expires_at > p_now
                AND l.remaining > l.held
              GROUP BY l.expires_at) e),
    'history', (
        SELECT coalesce(json_agg(json_build_array(
                   h.id, h.type, h.points, h.point_type, h.created_at, h.customer_reason,
                   h.order_ref, h.expires_at, h.canceled) ORDER BY h.id DESC), '[]'::json)
        -- The newest movements first, then per movement (20 at most) its credit lot and
        -- whether it was reversed: correlated lookups by index that no join order or stale
        -- statistics can turn into a scan of the tenant's transfers (a plan the function
        -- keeps for the whole session).
        FROM (SELECT t.id, t.type, t.points, t.point_type, t.created_at, t.customer_reason,
                     t.order_ref,
                     (SELECT cl.expires_at FROM lot cl
                      WHERE cl.tenant_id = t.tenant_id AND cl.transfer_id = t.id
                      LIMIT 1) AS expires_at,
                     EXISTS (SELECT 1 FROM transfer r
                             WHERE r.tenant_id = t.tenant_id AND r.reverses_id = t.id)
                         AS canceled
              FROM transfer t
              WHERE t.tenant_id = p_tenant AND t.customer_id = p_customer AND t.points <> 0
              ORDER BY t.id DESC
              LIMIT p_history) h));
END
$$
"""

CREDIT_NOW_V1 = """
CREATE FUNCTION fidelis_credit_now(
    p_tenant integer, p_original_id text, p_now timestamptz, p_amount bigint,
    p_type text, p_point_type integer, p_origin text, p_expires_at timestamptz,
    p_reason text, p_customer_reason text,
    p_key_scope text, p_key text, p_key_hash text, p_history integer
) RETURNS TABLE (customer_id bigint, name text, transfer_id bigint, summary json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_customer bigint;
    v_name text;
    v_enabled boolean;
    v_settle_at timestamptz;
    v_debt bigint;
    v_transfer bigint;
    v_issued bigint;
    v_available bigint;
BEGIN
    SELECT c.id, c.name, c.is_enabled, c.settle_at
    INTO v_customer, v_name, v_enabled, v_settle_at
    FROM customer c
    WHERE c.tenant_id = p_tenant AND c.original_id = p_original_id
    FOR NO KEY UPDATE;
    IF v_customer IS NULL OR NOT v_enabled OR v_settle_at <= p_now THEN
        RETURN;
    END IF;
    SELECT a.balance INTO v_debt FROM account a
    WHERE a.tenant_id = p_tenant AND a.customer_id = v_customer AND a.kind = 'debt';
    IF v_debt < 0 THEN
        RETURN;
    END IF;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_key (tenant_id, scope, key, request_hash, customer_id,
                                     created_at)
        VALUES (p_tenant, p_key_scope, p_key, p_key_hash, v_customer, p_now)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                          customer_reason, change_key, created_at)
    VALUES (p_tenant, v_customer, p_type, p_amount, p_amount, p_point_type, p_reason,
            p_customer_reason, p_key, p_now)
    RETURNING id INTO v_transfer;
    -- A customer's accounts exist after their first movement: a plain UPDATE then, which is
    -- cheaper than an upsert's speculative insertion.
    UPDATE account SET balance = balance - p_amount
    WHERE tenant_id = p_tenant AND customer_id = v_customer AND kind = 'issued'
    RETURNING id INTO v_issued;
    IF NOT FOUND THEN
        INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
        VALUES (p_tenant, v_customer, 'issued', -p_amount)
        ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance - p_amount
        RETURNING a.id INTO v_issued;
    END IF;
    UPDATE account SET balance = balance + p_amount
    WHERE tenant_id = p_tenant AND customer_id = v_customer AND kind = 'available'
    RETURNING id INTO v_available;
    IF NOT FOUND THEN
        INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
        VALUES (p_tenant, v_customer, 'available', p_amount)
        ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance + p_amount
        RETURNING a.id INTO v_available;
    END IF;
    INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
    VALUES (p_tenant, v_transfer, v_issued, -p_amount),
           (p_tenant, v_transfer, v_available, p_amount);
    INSERT INTO lot (tenant_id, customer_id, transfer_id, origin, amount, remaining, held,
                     status, available_at, expires_at, created_at)
    VALUES (p_tenant, v_customer, v_transfer, p_origin, p_amount, p_amount, 0, 'available',
            p_now, p_expires_at, p_now);
    IF p_expires_at IS NOT NULL AND (v_settle_at IS NULL OR v_settle_at > p_expires_at) THEN
        UPDATE customer SET settle_at = p_expires_at
        WHERE tenant_id = p_tenant AND id = v_customer;
    END IF;
    RETURN QUERY SELECT v_customer, v_name, v_transfer,
        fidelis_points_summary(p_tenant, v_customer, p_now, p_history);
END
$$
"""

KEY_ALLOWS_V1 = """
CREATE FUNCTION fidelis_key_allows(
    p_tenant integer, p_key bigint, p_program text,
    p_scope text, p_client text, p_since timestamptz, p_failures integer
) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM api_key k JOIN tenant t ON t.id = k.tenant_id
        WHERE k.id = p_key AND k.tenant_id = p_tenant AND k.revoked_at IS NULL
          AND t.program::text = p_program)
    AND (SELECT count(*) FROM (
            SELECT 1 FROM auth_failure f
            WHERE f.scope = p_scope AND f.client = p_client AND f.failed_at > p_since
            LIMIT p_failures) recent) < p_failures;
END
$$
"""

CREDIT_NOW_FOR_KEY_V1 = """
CREATE FUNCTION fidelis_credit_now_for_key(
    p_key bigint, p_program text, p_scope text, p_client text, p_since timestamptz,
    p_failures integer,
    p_tenant integer, p_original_id text, p_now timestamptz, p_amount bigint,
    p_type text, p_point_type integer, p_origin text, p_expires_at timestamptz,
    p_reason text, p_customer_reason text,
    p_key_scope text, p_change_key text, p_key_hash text, p_history integer
) RETURNS TABLE (customer_id bigint, name text, transfer_id bigint, summary json)
LANGUAGE plpgsql AS $$
BEGIN
    IF fidelis_key_allows(p_tenant, p_key, p_program, p_scope, p_client, p_since,
                          p_failures) THEN
        RETURN QUERY SELECT * FROM fidelis_credit_now(
            p_tenant, p_original_id, p_now, p_amount, p_type, p_point_type, p_origin,
            p_expires_at, p_reason, p_customer_reason, p_key_scope, p_change_key, p_key_hash,
            p_history);
    END IF;
END
$$
"""

LOCK_NOW_V1 = """
CREATE FUNCTION fidelis_lock_now(
    p_key bigint, p_program text, p_scope text, p_client text, p_since timestamptz,
    p_failures integer,
    p_tenant integer, p_original_id text, p_now timestamptz, p_most bigint,
    p_type text, p_token text, p_total_cents bigint, p_details json, p_expires_at timestamptz
) RETURNS TABLE (spendable bigint, parts json, locked cashback_lock)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_customer bigint;
    v_enabled boolean;
    v_settle_at timestamptz;
    v_available bigint;
    v_debt bigint;
    v_points bigint;
    v_left bigint;
    v_take bigint;
    v_lot record;
    v_lot_ids bigint[] := '{}';
    v_takes bigint[] := '{}';
    v_expiries timestamptz[] := '{}';
    v_transfer bigint;
    v_from bigint;
    v_to bigint;
    v_hold bigint;
    v_lock cashback_lock;
BEGIN
    IF NOT fidelis_key_allows(p_tenant, p_key, p_program, p_scope, p_client, p_since,
                              p_failures) THEN
        RETURN;
    END IF;
    SELECT c.id, c.is_enabled, c.settle_at INTO v_customer, v_enabled, v_settle_at
    FROM customer c
    WHERE c.tenant_id = p_tenant AND c.original_id = p_original_id
    FOR NO KEY UPDATE;
    IF v_customer IS NULL OR NOT v_enabled OR v_settle_at <= p_now THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(a.balance) FILTER (WHERE a.kind = 'available'), 0),
           coalesce(sum(a.balance) FILTER (WHERE a.kind = 'debt'), 0)
    INTO v_available, v_debt
    FROM account a
    WHERE a.tenant_id = p_tenant AND a.customer_id = v_customer
      AND a.kind IN ('available', 'debt');
    IF v_debt <> 0 OR v_available <= 0 THEN
        RETURN;
    END IF;
    v_points := CASE WHEN p_most IS NULL THEN v_available ELSE least(v_available, p_most) END;
    IF v_points <= 0 THEN
        RETURN;
    END IF;
    -- The lots in spending order (`ledger.repository.list_open_lots`, `Lot.is_available`),
    -- planned before anything is written (`ledger.service.plan_consumption`).
    v_left := v_points;
    FOR v_lot IN
        SELECT l.id, l.remaining - l.held AS free, l.expires_at
        FROM lot l
        WHERE l.tenant_id = p_tenant AND l.customer_id = v_customer
          AND l.status IN ('pending', 'available') AND l.remaining > 0
          AND (l.expires_at IS NULL OR l.expires_at > p_now)
          AND (l.status = 'available' OR l.available_at <= p_now)
        ORDER BY l.expires_at IS NULL, l.expires_at, l.id
    LOOP
        EXIT WHEN v_left = 0;
        v_take := least(v_lot.free, v_left);
        IF v_take > 0 THEN
            v_lot_ids := v_lot_ids || v_lot.id;
            v_takes := v_takes || v_take;
            v_expiries := v_expiries || v_lot.expires_at;
            v_left := v_left - v_take;
        END IF;
    END LOOP;
    IF v_left > 0 THEN
        RETURN;
    END IF;
    INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                          customer_reason, change_key, reverses_id, order_ref, created_at)
    VALUES (p_tenant, v_customer, p_type, v_points, 0, NULL, NULL, NULL, NULL, NULL, NULL, p_now)
    RETURNING id INTO v_transfer;
    INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
    VALUES (p_tenant, v_customer, 'available', -v_points)
    ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance - v_points
    RETURNING a.id INTO v_from;
    INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
    VALUES (p_tenant, v_customer, 'held', v_points)
    ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance + v_points
    RETURNING a.id INTO v_to;
    INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
    VALUES (p_tenant, v_transfer, v_from, -v_points), (p_tenant, v_transfer, v_to, v_points);
    UPDATE lot l SET held = l.held + p.take
    FROM unnest(v_lot_ids, v_takes) AS p(id, take)
    WHERE l.tenant_id = p_tenant AND l.id = p.id;
    UPDATE customer c SET settle_at = p_expires_at
    WHERE c.tenant_id = p_tenant AND c.id = v_customer
      AND (c.settle_at IS NULL OR c.settle_at > p_expires_at);
    INSERT INTO hold (tenant_id, customer_id, purpose, amount, captured, status, transfer_id,
                      expires_at, created_at)
    VALUES (p_tenant, v_customer, 'lock', v_points, 0, 'active', v_transfer, p_expires_at, p_now)
    RETURNING id INTO v_hold;
    INSERT INTO hold_part (tenant_id, hold_id, lot_id, amount)
    SELECT p_tenant, v_hold, p.id, p.take
    FROM unnest(v_lot_ids, v_takes) WITH ORDINALITY AS p(id, take, n)
    ORDER BY p.n;
    INSERT INTO cashback_lock (tenant_id, token, customer_id, hold_id, status, points, lock_key,
                               total_cents, details, created_at, expires_at)
    VALUES (p_tenant, p_token, v_customer, v_hold, 'active', v_points, NULL, p_total_cents,
            p_details, p_now, p_expires_at)
    RETURNING * INTO v_lock;
    RETURN QUERY SELECT v_available,
        (SELECT json_agg(json_build_array(p.id, p.take, p.expires_at) ORDER BY p.n)
         FROM unnest(v_lot_ids, v_takes, v_expiries) WITH ORDINALITY AS p(id, take, expires_at, n)),
        v_lock;
END
$$
"""

COMMIT_LOCK_NOW_V1 = """
CREATE FUNCTION fidelis_commit_lock_now(
    p_key bigint, p_program text, p_scope text, p_client text, p_since timestamptz,
    p_failures integer,
    p_tenant integer, p_token text, p_now timestamptz, p_order_ref text,
    p_type text, p_point_type integer
) RETURNS SETOF cashback_lock
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_lock cashback_lock;
    v_settle_at timestamptz;
    v_hold hold;
    v_transfer bigint;
    v_from bigint;
    v_to bigint;
BEGIN
    IF NOT fidelis_key_allows(p_tenant, p_key, p_program, p_scope, p_client, p_since,
                              p_failures) THEN
        RETURN;
    END IF;
    -- As `lock.service._locked`: the customer's row lock first, then the lock's.
    SELECT * INTO v_lock FROM cashback_lock l WHERE l.tenant_id = p_tenant AND l.token = p_token;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT c.settle_at INTO v_settle_at FROM customer c
    WHERE c.tenant_id = p_tenant AND c.id = v_lock.customer_id
    FOR NO KEY UPDATE;
    IF v_settle_at <= p_now THEN
        RETURN;
    END IF;
    SELECT * INTO v_lock FROM cashback_lock l
    WHERE l.tenant_id = p_tenant AND l.token = p_token
    FOR UPDATE;
    IF v_lock.status <> 'active' OR v_lock.expires_at <= p_now THEN
        RETURN;
    END IF;
    SELECT * INTO v_hold FROM hold h WHERE h.tenant_id = p_tenant AND h.id = v_lock.hold_id;
    IF NOT FOUND OR v_hold.status <> 'active' OR v_hold.amount <> v_lock.points THEN
        RETURN;
    END IF;
    INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                          customer_reason, change_key, reverses_id, order_ref, created_at)
    VALUES (p_tenant, v_lock.customer_id, p_type, v_hold.amount, -v_hold.amount, p_point_type,
            'cashback lock ' || v_lock.id
                || CASE WHEN coalesce(p_order_ref, '') = '' THEN ''
                        ELSE ' for order ' || p_order_ref END,
            NULL, NULL, NULL, NULL, p_now)
    RETURNING id INTO v_transfer;
    INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
    VALUES (p_tenant, v_lock.customer_id, 'held', -v_hold.amount)
    ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance - v_hold.amount
    RETURNING a.id INTO v_from;
    INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
    VALUES (p_tenant, v_lock.customer_id, 'redeemed', v_hold.amount)
    ON CONFLICT (tenant_id, customer_id, kind) DO UPDATE SET balance = a.balance + v_hold.amount
    RETURNING a.id INTO v_to;
    INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
    VALUES (p_tenant, v_transfer, v_from, -v_hold.amount),
           (p_tenant, v_transfer, v_to, v_hold.amount);
    UPDATE lot l SET held = l.held - hp.amount, remaining = l.remaining - hp.amount
    FROM hold_part hp
    WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id
      AND l.tenant_id = p_tenant AND l.id = hp.lot_id;
    INSERT INTO lot_movement (tenant_id, lot_id, transfer_id, consumed)
    SELECT p_tenant, hp.lot_id, v_transfer, hp.amount
    FROM hold_part hp
    WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id
    ORDER BY hp.id;
    UPDATE hold h SET status = 'captured', captured = v_hold.amount, resolved_at = p_now
    WHERE h.tenant_id = p_tenant AND h.id = v_hold.id;
    UPDATE cashback_lock l
    SET status = 'committed', committed_points = v_hold.amount,
        capture_transfer_id = v_transfer, order_ref = p_order_ref, resolved_at = p_now
    WHERE l.tenant_id = p_tenant AND l.id = v_lock.id
    RETURNING * INTO v_lock;
    RETURN NEXT v_lock;
END
$$
"""


def _edited(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# V1 with every lookup matched by exactly one index, whatever the statistics when a session
# plans it (migration 0016 says why that matters): the lock by its token alone (unique on its
# own, migration 0017), the tenant checked right after; the hold by id and customer.
COMMIT_LOCK_NOW_V2 = _edited(
    COMMIT_LOCK_NOW_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "FROM cashback_lock l WHERE l.tenant_id = p_tenant AND l.token = p_token;\n"
            "    IF NOT FOUND THEN",
            "FROM cashback_lock l WHERE l.token = p_token;\n"
            "    IF NOT FOUND OR v_lock.tenant_id <> p_tenant THEN",
        ),
        (
            "    WHERE l.tenant_id = p_tenant AND l.token = p_token\n"
            "    FOR UPDATE;\n"
            "    IF v_lock.status",
            "    WHERE l.token = p_token\n    FOR UPDATE;\n    IF NOT FOUND OR v_lock.status",
        ),
        (
            "FROM hold h WHERE h.tenant_id = p_tenant AND h.id = v_lock.hold_id;",
            "FROM hold h\n"
            "    WHERE h.tenant_id = p_tenant AND h.customer_id = v_lock.customer_id\n"
            "      AND h.id = v_lock.hold_id;",
        ),
    ],
)


# Every statement of these functions reads by key through an index. PL/pgSQL keeps a plan for
# the session; one made while the tables were small (a new install: the first requests run on
# empty tables) chose sequential scans, which the session then kept as the tables grew (14 ms a
# points read after 20 000 adds). With sequential scans off while they run, they plan index
# scans whatever the statistics say. A function replaced later (`CREATE OR REPLACE`) loses
# this setting: the migration that replaces it sets it again (`index_scans_only`).
def index_scans_only(name: str) -> str:
    return f"ALTER FUNCTION {name} SET enable_seqscan = off"


# The set-based batch forms (`CREDIT_MANY_V2`, `COMMIT_LOCK_MANY_V2`) join a batch's few
# items to the tables by key. With no statistics for a join's estimate (an index made since the
# last ANALYZE, a new install), one planned the hold parts of four commits at 105 each, and
# updated their lots by a merge join over every lot of the database through `ix_lot_id`, with a
# JIT compilation of 73 ms on top (the estimate was over `jit_above_cost`): 1.2 s a batch.
# Nested loops over their indexes only, and no JIT, whatever the estimates.
def nested_loops_only(name: str) -> str:
    return (
        f"ALTER FUNCTION {name} SET enable_seqscan = off SET enable_hashjoin = off"
        " SET enable_mergejoin = off SET jit = off"
    )


# PL/pgSQL plans a statement with parameters afresh at each of its first five runs in a
# session (a custom plan, for those values), then keeps one generic plan unless that one looks
# dearer than the custom ones did; for many statements of these functions it does (arrays for
# parameters, a LIMIT), so they were planned again at every call: 9% of PostgreSQL's time
# under the benchmark's purchases, 13% under its points adds (`perf`, call graphs of the
# backends). Their statements read by key through indexes whatever the values
# (`index_scans_only`, `nested_loops_only`), so one plan, made at the first call, serves
# every call until an ANALYZE of a table it reads (autovacuum's, as the tables grow) makes
# the session plan it again. Like those settings, `CREATE OR REPLACE` drops this one: a
# migration that replaces one of `HOT_FUNCTIONS` sets it again (a test checks them all).
def one_plan(name: str) -> str:
    return f"ALTER FUNCTION {name} SET plan_cache_mode = force_generic_plan"


HOT_FUNCTIONS = (
    "fidelis_points_summary",
    "fidelis_history_source",
    "fidelis_key_allows",
    "fidelis_credit_now",
    "fidelis_credit_now_for_key",
    "fidelis_credit_now_for_key_many",
    "fidelis_lock_now",
    "fidelis_lock_now_many",
    "fidelis_commit_lock_now",
    "fidelis_commit_lock_now_many",
)


INDEX_SCANS_ONLY_V1 = [
    index_scans_only(name)
    for name in (
        "fidelis_points_summary",
        "fidelis_credit_now",
        "fidelis_key_allows",
        "fidelis_lock_now",
        "fidelis_commit_lock_now",
    )
]

# A lock's and a commit's lookups of lots and holds by keys that are unique across tenants, each
# matched by one index that does not start with `tenant_id` (migration 0019 says why). A lot
# or hold found so belongs to the tenant by construction (the customer's lots; the lock's hold;
# the hold's parts), which the hold's lookup also checks.
LOCK_NOW_V2 = _edited(
    LOCK_NOW_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        ("    v_lock cashback_lock;\nBEGIN", "    v_lock cashback_lock;\n    v_n integer;\nBEGIN"),
        (
            "        FROM lot l\n"
            "        WHERE l.tenant_id = p_tenant AND l.customer_id = v_customer\n",
            "        FROM lot l\n        WHERE l.customer_id = v_customer\n",
        ),
        (
            "    UPDATE lot l SET held = l.held + p.take\n"
            "    FROM unnest(v_lot_ids, v_takes) AS p(id, take)\n"
            "    WHERE l.tenant_id = p_tenant AND l.id = p.id;\n",
            "    FOR v_n IN 1 .. cardinality(v_lot_ids) LOOP\n"
            "        UPDATE lot l SET held = l.held + v_takes[v_n] WHERE l.id = v_lot_ids[v_n];\n"
            "    END LOOP;\n",
        ),
    ],
)

COMMIT_LOCK_NOW_V3 = _edited(
    COMMIT_LOCK_NOW_V2,
    [
        ("    v_to bigint;\nBEGIN", "    v_to bigint;\n    v_part record;\nBEGIN"),
        (
            "FROM hold h\n"
            "    WHERE h.tenant_id = p_tenant AND h.customer_id = v_lock.customer_id\n"
            "      AND h.id = v_lock.hold_id;\n"
            "    IF NOT FOUND OR v_hold.status",
            "FROM hold h WHERE h.id = v_lock.hold_id;\n"
            "    IF NOT FOUND OR v_hold.tenant_id <> p_tenant\n"
            "       OR v_hold.customer_id <> v_lock.customer_id OR v_hold.status",
        ),
        (
            "    UPDATE lot l SET held = l.held - hp.amount, remaining = l.remaining - hp.amount\n"
            "    FROM hold_part hp\n"
            "    WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id\n"
            "      AND l.tenant_id = p_tenant AND l.id = hp.lot_id;\n",
            "    FOR v_part IN\n"
            "        SELECT hp.lot_id, hp.amount FROM hold_part hp\n"
            "        WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id\n"
            "        ORDER BY hp.id\n"
            "    LOOP\n"
            "        UPDATE lot l\n"
            "        SET held = l.held - v_part.amount, remaining = l.remaining - v_part.amount\n"
            "        WHERE l.id = v_part.lot_id;\n"
            "    END LOOP;\n",
        ),
        (
            "    WHERE h.tenant_id = p_tenant AND h.id = v_hold.id;\n",
            "    WHERE h.id = v_hold.id;\n",
        ),
    ],
)

# A movement's expiry read from its own row (`transfer.expires_at`, migration 0020) instead of
# a lookup of its credit lot per movement: a third of a points read with five movements.
SUMMARY_V2 = _edited(
    SUMMARY_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "(20 at most) its credit lot and\n"
            "        -- whether it was reversed: correlated lookups by index",
            "(20 at most) whether it\n        -- was reversed: a correlated lookup by index",
        ),
        (
            "(SELECT cl.expires_at FROM lot cl\n"
            "                      WHERE cl.tenant_id = t.tenant_id AND cl.transfer_id = t.id\n"
            "                      LIMIT 1) AS expires_at,\n",
            "t.expires_at,\n",
        ),
    ],
)

# The credit writes its lot's expiry on its transfer too.
CREDIT_NOW_V2 = _edited(
    CREDIT_NOW_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "customer_reason, change_key, created_at)",
            "customer_reason, change_key, created_at, expires_at)",
        ),
        ("p_customer_reason, p_key, p_now)", "p_customer_reason, p_key, p_now, p_expires_at)"),
    ],
)

# Each movement names what it came from, as the history's `RewardId`, `BranchId` and
# `BranchName`: the redemption it spent (PointType 5 Redemption, 7 CheckoutCashback) or gave
# back (6 RedemptionCanceled, 8 CheckoutCashbackRefund), or the order it was earned by or taken
# back for (2 Purchase, 3 PurchaseReversal), whose `Branch` the store sent; `[id, branch id,
# branch name]`, nulls where there is none. Lookups by index (migration 0022). A function the
# summary calls only for those movements: as subqueries of the summary's own statement, they
# cost every call their start-up (10 us of a 100 us summary under pgbench, though manual
# changes never run them), and as a join they were planned as a scan of the tenant's
# redemptions. The same reads as `ledger.repository._history` and `ledger.sqlitepath._HISTORY`.
HISTORY_SOURCE_V1 = """
CREATE FUNCTION fidelis_history_source(
    p_tenant integer, p_transfer bigint, p_point_type integer, p_order_ref text
) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
    v_details json;
BEGIN
    IF p_point_type IN (5, 7) THEN
        SELECT s.id, s.details INTO v_id, v_details FROM redemption s
        WHERE s.tenant_id = p_tenant AND s.transfer_id = p_transfer;
    ELSIF p_point_type IN (6, 8) THEN
        SELECT s.id, s.details INTO v_id, v_details FROM redemption s
        WHERE s.tenant_id = p_tenant AND s.cancel_transfer_id = p_transfer;
    ELSIF p_point_type IN (2, 3) THEN
        SELECT o.details INTO v_details FROM purchase o
        WHERE o.tenant_id = p_tenant AND o.original_id = p_order_ref;
    END IF;
    RETURN json_build_array(
        v_id, v_details->'Branch'->>'OriginalId', v_details->'Branch'->>'Name');
END
$$
"""
SUMMARY_V3 = _edited(
    SUMMARY_V2,
    [
        (
            "h.order_ref, h.expires_at, h.canceled) ORDER BY h.id DESC)",
            "h.order_ref, h.expires_at, h.canceled, h.source->0, h.source->>1,\n"
            "                   h.source->>2) ORDER BY h.id DESC)",
        ),
        (
            "                         AS canceled\n",
            "                         AS canceled,\n"
            "                     CASE WHEN t.point_type IN (2, 3, 5, 6, 7, 8) THEN\n"
            "                         fidelis_history_source(t.tenant_id, t.id, t.point_type,\n"
            "                                                t.order_ref)\n"
            "                     END AS source\n",
        ),
    ],
)

# Batch forms: several requests' calls of a hot-path function in one call and one transaction
# (`db.batches`). Each parameter becomes an array, item `i` of each being one request's
# argument, and each row the function gives for item `i` comes back numbered `i` (`n`). The
# items run one after the other, each seeing the writes of those before it, in the order of
# the customers they lock (by id; items of one customer in the order given): two batches
# then take their customers' row locks in the same order and cannot deadlock on them.


def _batch_form(
    name: str, params: list[tuple[str, str]], returns: str, select: str, customer: str
) -> str:
    """The batch form `<name>_many` of function `name` (`params`: its parameters' names and
    types; `returns`: its row's columns after `n`; `select`: what of a row of `name` AS f it
    gives; `customer`: the item's customer id, an expression of the arrays at `t.i`)."""
    arrays = ", ".join(f"{p} {t}[]" for p, t in params)
    args = ", ".join(f"{p}[i]" for p, _ in params)
    first = params[0][0]
    return f"""
CREATE FUNCTION {name}_many({arrays})
RETURNS TABLE (n integer, {returns})
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    i integer;
BEGIN
    FOR i IN
        SELECT t.i FROM generate_subscripts({first}, 1) AS t(i)
        ORDER BY ({customer}) NULLS LAST, t.i
    LOOP
        RETURN QUERY SELECT i, {select} FROM {name}({args}) AS f;
    END LOOP;
END
$$
"""


_KEY_CHECK = [
    ("p_key", "bigint"),
    ("p_program", "text"),
    ("p_scope", "text"),
    ("p_client", "text"),
    ("p_since", "timestamptz"),
    ("p_failures", "integer"),
]
_CUSTOMER_BY_ORIGINAL_ID = (
    "SELECT c.id FROM customer c"
    " WHERE c.tenant_id = p_tenant[t.i] AND c.original_id = p_original_id[t.i]"
)

CREDIT_NOW_FOR_KEY_PARAMS = [
    *_KEY_CHECK,
    ("p_tenant", "integer"),
    ("p_original_id", "text"),
    ("p_now", "timestamptz"),
    ("p_amount", "bigint"),
    ("p_type", "text"),
    ("p_point_type", "integer"),
    ("p_origin", "text"),
    ("p_expires_at", "timestamptz"),
    ("p_reason", "text"),
    ("p_customer_reason", "text"),
    ("p_key_scope", "text"),
    ("p_change_key", "text"),
    ("p_key_hash", "text"),
    ("p_history", "integer"),
]
CREDIT_MANY_V1 = _batch_form(
    "fidelis_credit_now_for_key",
    CREDIT_NOW_FOR_KEY_PARAMS,
    "customer_id bigint, name text, transfer_id bigint, summary json",
    "f.*",
    _CUSTOMER_BY_ORIGINAL_ID,
)

LOCK_NOW_PARAMS = [
    *_KEY_CHECK,
    ("p_tenant", "integer"),
    ("p_original_id", "text"),
    ("p_now", "timestamptz"),
    ("p_most", "bigint"),
    ("p_type", "text"),
    ("p_token", "text"),
    ("p_total_cents", "bigint"),
    ("p_details", "json"),
    ("p_expires_at", "timestamptz"),
]
LOCK_MANY_V1 = _batch_form(
    "fidelis_lock_now",
    LOCK_NOW_PARAMS,
    "spendable bigint, parts json, locked cashback_lock",
    "f.*",
    _CUSTOMER_BY_ORIGINAL_ID,
)

COMMIT_LOCK_NOW_PARAMS = [
    *_KEY_CHECK,
    ("p_tenant", "integer"),
    ("p_token", "text"),
    ("p_now", "timestamptz"),
    ("p_order_ref", "text"),
    ("p_type", "text"),
    ("p_point_type", "integer"),
]
# The lock by its token alone (unique across tenants, migration 0017), for the order only: the
# commit function checks the tenant, and a lookup that named it could be planned on an index
# that starts with the tenant (migration 0019 says why).
COMMIT_LOCK_MANY_V1 = _batch_form(
    "fidelis_commit_lock_now",
    COMMIT_LOCK_NOW_PARAMS,
    "locked cashback_lock",
    "f",
    "SELECT l.customer_id FROM cashback_lock l WHERE l.token = p_token[t.i]",
)

# A hold's parts by the hold alone (`ix_hold_part_hold_id`, migration 0025), as its lots and
# the hold itself already are (migration 0019): with the tenant in the lookup, a plan made on
# a new install's small tables could take the primary key, which gives the tenant's parts in
# the order asked for, and read every part of the tenant for each commit (W2 of the benchmark
# fell by a third within a minute on a new database). The parts are the hold's, the hold the
# lock's: the tenant's by construction, checked on the hold.
COMMIT_LOCK_NOW_V4 = _edited(
    COMMIT_LOCK_NOW_V3,
    [
        (
            "        SELECT hp.lot_id, hp.amount FROM hold_part hp\n"
            "        WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id\n",
            "        SELECT hp.lot_id, hp.amount FROM hold_part hp\n"
            "        WHERE hp.hold_id = v_hold.id\n",
        ),
        (
            "    FROM hold_part hp\n"
            "    WHERE hp.tenant_id = p_tenant AND hp.hold_id = v_hold.id\n"
            "    ORDER BY hp.id;\n",
            "    FROM hold_part hp\n    WHERE hp.hold_id = v_hold.id\n    ORDER BY hp.id;\n",
        ),
    ],
)

# The key check of `fidelis_key_allows`, as a condition on item `x.i` (of tenant `x.tenant`)
# in a set-based batch form's statement: called per item as a function, a batch of credits ran
# 8-10% slower.
_KEY_CHECKED = """\
            AND EXISTS (
                SELECT 1 FROM api_key k JOIN tenant t ON t.id = k.tenant_id
                WHERE k.id = p_key[x.i] AND k.tenant_id = x.tenant AND k.revoked_at IS NULL
                  AND t.program::text = p_program[x.i])
            AND (SELECT count(*) FROM (
                    SELECT 1 FROM auth_failure f
                    WHERE f.scope = p_scope[x.i] AND f.client = p_client[x.i]
                      AND f.failed_at > p_since[x.i]
                    LIMIT p_failures[x.i]) recent) < p_failures[x.i]
"""


def _posted(debit: str, credit: str) -> str:
    """CTEs of a set-based batch form's write statement: each transfer `t` (its `id` and
    `customer_id`) of the batch `x` (`tenant`, `customer`, `amount`) posted from the customer's
    `debit` account to their `credit` one, as `ledger.service` posts a transfer: both balances
    (created by their first movement) and the two entries."""
    return f"""\
    moves AS (
        SELECT t.id AS transfer, x.tenant, x.customer, k.kind, k.sign * x.amount AS amount, k.o
        FROM t JOIN x ON x.customer = t.customer_id
        CROSS JOIN (VALUES (1, '{debit}', -1), (2, '{credit}', 1)) AS k(o, kind, sign)),
    accounts AS (
        INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
        SELECT m.tenant, m.customer, m.kind, m.amount FROM moves m
        ORDER BY m.customer, m.o
        ON CONFLICT (tenant_id, customer_id, kind)
        DO UPDATE SET balance = a.balance + excluded.balance
        RETURNING a.id, a.customer_id, a.kind),
    entries AS (
        INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
        SELECT m.tenant, m.transfer, a.id, m.amount
        FROM moves m JOIN accounts a ON a.customer_id = m.customer AND a.kind = m.kind
        ORDER BY m.transfer, m.o),
"""


# The batch form of credits, set-based: each write of the batch is one statement for all its
# items (the customers locked in id order, the debts read, the ChangeKeys claimed, then the
# transfers, balances, entries and lots), where V1 ran the dozen statements of
# `fidelis_credit_now` once per item (with the key check and the item's own function call
# around them), each paying its executor's start-up and its tables' checks: a third of
# PostgreSQL's time a credit. A batch with two items of one customer, or of one ChangeKey,
# runs as V1 does, one item after the other: each answer is then the customer's state right
# after its own change, and the second claim of a key sees the first. Otherwise no item reads
# what another writes, so the state after all of them is each one's own, and the same rows
# come back as V1 gives (the general path's case, no row, for the same items).
CREDIT_MANY_V2 = _edited(
    CREDIT_MANY_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "DECLARE\n    i integer;\nBEGIN\n",
            "DECLARE\n"
            "    i integer;\n"
            "    v_items integer[];\n"
            "    v_customers bigint[];\n"
            "    v_names text[];\n"
            "    v_transfers bigint[];\n"
            "    v_rows tid[];\n"
            "BEGIN\n"
            "    IF (SELECT count(DISTINCT (u.t, u.o)) < count(*)\n"
            "               OR count(DISTINCT (u.t, u.s, u.k)) FILTER (WHERE u.k IS NOT NULL)\n"
            "                  < count(u.k)\n"
            "        FROM unnest(p_tenant, p_original_id, p_key_scope, p_change_key)\n"
            "             AS u(t, o, s, k)) THEN\n",
        ),
        (
            "    END LOOP;\nEND\n",
            "    END LOOP;\n    RETURN;\n    END IF;\n"
            + """\
    -- The customers of the items whose key check passes (`fidelis_key_allows`), enabled and
    -- with nothing due to settle, locked in id order.
    SELECT array_agg(s.i ORDER BY s.id), array_agg(s.id ORDER BY s.id),
           array_agg(s.name ORDER BY s.id), array_agg(s.ctid ORDER BY s.id)
    INTO v_items, v_customers, v_names, v_rows
    FROM (SELECT x.i::integer AS i, c.id, c.name, c.ctid
          FROM unnest(p_tenant, p_original_id, p_now) WITH ORDINALITY
               AS x(tenant, original_id, now, i)
          JOIN customer c ON c.tenant_id = x.tenant AND c.original_id = x.original_id
          WHERE c.is_enabled AND (c.settle_at IS NULL OR c.settle_at > x.now)
"""
            + _KEY_CHECKED
            + """          ORDER BY c.id
          FOR NO KEY UPDATE OF c) s;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- Those with no debt, whose ChangeKey (if any) was not used.
    WITH ok AS (
        SELECT u.i, u.c, u.name
        FROM unnest(v_items, v_customers, v_names) AS u(i, c, name)
        WHERE NOT EXISTS (
            SELECT 1 FROM account a
            WHERE a.tenant_id = p_tenant[u.i] AND a.customer_id = u.c AND a.kind = 'debt'
              AND a.balance < 0)),
    claimed AS (
        INSERT INTO idempotency_key (tenant_id, scope, key, request_hash, customer_id,
                                     created_at)
        SELECT p_tenant[ok.i], p_key_scope[ok.i], p_change_key[ok.i], p_key_hash[ok.i], ok.c,
               p_now[ok.i]
        FROM ok WHERE p_change_key[ok.i] IS NOT NULL
        ORDER BY ok.c
        ON CONFLICT DO NOTHING
        RETURNING customer_id)
    SELECT array_agg(ok.i ORDER BY ok.c), array_agg(ok.c ORDER BY ok.c),
           array_agg(ok.name ORDER BY ok.c)
    INTO v_items, v_customers, v_names
    FROM ok
    WHERE p_change_key[ok.i] IS NULL OR ok.c IN (SELECT claimed.customer_id FROM claimed);
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- The credits: a transfer each, its two entries (issued to available) over the
    -- customer's accounts (created by the first movement, as in `fidelis_credit_now`), a lot.
    WITH t AS (
        INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                              customer_reason, change_key, created_at, expires_at)
        SELECT p_tenant[u.i], u.c, p_type[u.i], p_amount[u.i], p_amount[u.i],
               p_point_type[u.i], p_reason[u.i], p_customer_reason[u.i], p_change_key[u.i],
               p_now[u.i], p_expires_at[u.i]
        FROM unnest(v_items, v_customers) AS u(i, c)
        ORDER BY u.c
        RETURNING id, tenant_id, customer_id, amount),
    moves AS (
        SELECT t.id AS transfer, t.tenant_id, t.customer_id, k.kind, k.sign * t.amount AS amount,
               k.o
        FROM t CROSS JOIN (VALUES (1, 'issued', -1), (2, 'available', 1)) AS k(o, kind, sign)),
    updated AS (
        UPDATE account a SET balance = a.balance + m.amount
        FROM moves m
        WHERE a.tenant_id = m.tenant_id AND a.customer_id = m.customer_id AND a.kind = m.kind
        RETURNING a.id, a.customer_id, a.kind),
    inserted AS (
        INSERT INTO account AS a (tenant_id, customer_id, kind, balance)
        SELECT m.tenant_id, m.customer_id, m.kind, m.amount FROM moves m
        WHERE NOT EXISTS (
            SELECT 1 FROM account x
            WHERE x.tenant_id = m.tenant_id AND x.customer_id = m.customer_id
              AND x.kind = m.kind)
        ORDER BY m.customer_id, m.o
        ON CONFLICT (tenant_id, customer_id, kind)
        DO UPDATE SET balance = a.balance + excluded.balance
        RETURNING a.id, a.customer_id, a.kind),
    entries AS (
        INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
        SELECT m.tenant_id, m.transfer, acc.id, m.amount
        FROM moves m
        JOIN (SELECT * FROM updated UNION ALL SELECT * FROM inserted) AS acc
          ON acc.customer_id = m.customer_id AND acc.kind = m.kind
        ORDER BY m.transfer, m.o),
    lots AS (
        INSERT INTO lot (tenant_id, customer_id, transfer_id, origin, amount, remaining, held,
                         status, available_at, expires_at, created_at)
        SELECT t.tenant_id, t.customer_id, t.id, p_origin[u.i], t.amount, t.amount, 0,
               'available', p_now[u.i], p_expires_at[u.i], p_now[u.i]
        FROM t JOIN unnest(v_items, v_customers) AS u(i, c) ON u.c = t.customer_id
        ORDER BY t.id)
    SELECT array_agg(t.id ORDER BY t.customer_id) INTO v_transfers FROM t;
    UPDATE customer c SET settle_at = p_expires_at[u.i]
    FROM unnest(v_items, v_customers) AS u(i, c)
    WHERE p_expires_at[u.i] IS NOT NULL AND c.ctid = ANY (v_rows) AND c.id = u.c
      AND (c.settle_at IS NULL OR c.settle_at > p_expires_at[u.i]);
    RETURN QUERY
    SELECT u.i, u.c, u.name, u.t,
           fidelis_points_summary(p_tenant[u.i], u.c, p_now[u.i], p_history[u.i])
    FROM unnest(v_items, v_customers, v_names, v_transfers) AS u(i, c, name, t);
END
""",
        ),
    ],
)

# The batch form of cashback commits, set-based as credits are (`CREDIT_MANY_V2` says why):
# the customers of the locks whose key check passes locked in id order, then their locks,
# then one statement for every write of the batch (the captures' transfers, both balances,
# entries, the held lots spent and their movements, the holds and the locks resolved). A batch
# with two locks of one customer, or one token twice, runs one lock after the other as before.
# Each lock's hold is its own and holds distinct lots, so no row is written twice.
COMMIT_LOCK_MANY_V2 = _edited(
    COMMIT_LOCK_MANY_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "DECLARE\n    i integer;\nBEGIN\n",
            "DECLARE\n"
            "    i integer;\n"
            "    v_items integer[];\n"
            "    v_customers bigint[];\n"
            "    v_locks bigint[];\n"
            "    v_holds bigint[];\n"
            "    v_amounts bigint[];\n"
            "    v_rows tid[];\n"
            "BEGIN\n"
            "    IF (SELECT count(DISTINCT l.customer_id) < count(*)\n"
            "        FROM cashback_lock l WHERE l.token = ANY (p_token))\n"
            "       OR cardinality(p_token) > (SELECT count(DISTINCT t) FROM unnest(p_token) t)\n"
            "    THEN\n",
        ),
        (
            "    END LOOP;\nEND\n",
            "    END LOOP;\n    RETURN;\n    END IF;\n"
            + """\
    -- The customers of the tenant's locks whose key check passes, with nothing due to
    -- settle, locked in id order. Each lock by its token alone, the tenant checked after
    -- (`COMMIT_LOCK_NOW_V2`), in a subquery of its own (`OFFSET 0`): a plan made on a new
    -- database took the lookup, joined on the tenant, as a scan of the tenant's locks
    -- through the primary key (all of them read for each commit; W2 fell to a third).
    SELECT array_agg(s.i ORDER BY s.id), array_agg(s.id ORDER BY s.id)
    INTO v_items, v_customers
    FROM (SELECT x.i::integer AS i, c.id
          FROM unnest(p_tenant, p_token, p_now) WITH ORDINALITY AS x(tenant, token, now, i)
          CROSS JOIN LATERAL (
              SELECT l.tenant_id, l.customer_id FROM cashback_lock l WHERE l.token = x.token
              OFFSET 0) AS l
          JOIN customer c ON c.tenant_id = x.tenant AND c.id = l.customer_id
          WHERE l.tenant_id = x.tenant AND (c.settle_at IS NULL OR c.settle_at > x.now)
"""
            + _KEY_CHECKED
            + """          ORDER BY c.id
          FOR NO KEY UPDATE OF c) s;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- Their locks (locked in the customers' order, as `v_items` is), still active, each over
    -- its active hold of the same points. Each lock and hold by its own key in a subquery of
    -- its own (`OFFSET 0`), here and below: joined to the batch, a plan made on small tables
    -- read all of a table's rows once instead (316 locks for two commits in
    -- `tests/test_pg_plans.py`). The rows this batch locked are updated by their address.
    SELECT array_agg(s.i ORDER BY s.customer_id), array_agg(s.customer_id ORDER BY s.customer_id),
           array_agg(s.id ORDER BY s.customer_id), array_agg(s.hold_id ORDER BY s.customer_id),
           array_agg(s.points ORDER BY s.customer_id), array_agg(s.ctid ORDER BY s.customer_id)
    INTO v_items, v_customers, v_locks, v_holds, v_amounts, v_rows
    FROM (SELECT u.i, l.customer_id, l.id, l.hold_id, l.points, l.ctid
          FROM unnest(v_items) AS u(i)
          CROSS JOIN LATERAL (
              SELECT l.customer_id, l.id, l.hold_id, l.points, l.status, l.expires_at, l.ctid
              FROM cashback_lock l WHERE l.token = p_token[u.i]
              OFFSET 0 FOR UPDATE) AS l
          CROSS JOIN LATERAL (
              SELECT h.tenant_id, h.customer_id, h.status, h.amount
              FROM hold h WHERE h.id = l.hold_id
              OFFSET 0) AS h
          WHERE l.status = 'active' AND l.expires_at > p_now[u.i]
            AND h.tenant_id = p_tenant[u.i] AND h.customer_id = l.customer_id
            AND h.status = 'active' AND h.amount = l.points) s;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- The captures: a transfer each, its two entries (held to redeemed), the held lots
    -- spent, their movements, the holds and the locks resolved.
    WITH x AS (
        SELECT u.i, u.customer, u.lock, u.hold, u.amount, p_tenant[u.i] AS tenant
        FROM unnest(v_items, v_customers, v_locks, v_holds, v_amounts)
             AS u(i, customer, lock, hold, amount)),
    t AS (
        INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                              customer_reason, change_key, reverses_id, order_ref, created_at)
        SELECT x.tenant, x.customer, p_type[x.i], x.amount, -x.amount, p_point_type[x.i],
               'cashback lock ' || x.lock
                   || CASE WHEN coalesce(p_order_ref[x.i], '') = '' THEN ''
                           ELSE ' for order ' || p_order_ref[x.i] END,
               NULL, NULL, NULL, NULL, p_now[x.i]
        FROM x
        ORDER BY x.customer
        RETURNING id, customer_id),
"""
            + _posted("held", "redeemed")
            + """    parts AS (
        SELECT x.tenant, t.id AS transfer, hp.id, hp.lot_id, hp.amount
        FROM x JOIN t ON t.customer_id = x.customer
        JOIN hold_part hp ON hp.hold_id = x.hold),
    spent AS (
        UPDATE lot l SET held = l.held - p.amount, remaining = l.remaining - p.amount
        FROM parts p
        WHERE l.id = p.lot_id),
    movements AS (
        INSERT INTO lot_movement (tenant_id, lot_id, transfer_id, consumed)
        SELECT p.tenant, p.lot_id, p.transfer, p.amount FROM parts p
        ORDER BY p.transfer, p.id),
    holds AS (
        UPDATE hold h SET status = 'captured', captured = x.amount, resolved_at = p_now[x.i]
        FROM x
        WHERE h.id = x.hold)
    UPDATE cashback_lock l
    SET status = 'committed', committed_points = x.amount, capture_transfer_id = t.id,
        order_ref = p_order_ref[x.i], resolved_at = p_now[x.i]
    FROM x JOIN t ON t.customer_id = x.customer
    WHERE l.ctid = ANY (v_rows) AND l.id = x.lock;
    RETURN QUERY
    SELECT u.i, l.l
    FROM unnest(v_items) AS u(i)
    CROSS JOIN LATERAL (
        SELECT l FROM cashback_lock l WHERE l.token = p_token[u.i] OFFSET 0) AS l;
END
""",
        ),
    ],
)

# The batch form of cashback locks, set-based as credits are (`CREDIT_MANY_V2` says why): the
# customers of the items whose key check passes locked in id order, their spendable points
# read, the lots each lock takes planned in one statement (each customer's lots in spending
# order, taken while the running sum of what they have free is short of the points to hold,
# as `LOCK_NOW_V2`'s loop does), then one statement for every write (the holds' transfers, both
# balances, entries, the lots' held points, due dates, holds, their parts, the locks). A batch
# with two items of one customer, or one token twice, runs one item after the other as before.
LOCK_MANY_V2 = _edited(
    LOCK_MANY_V1,
    [
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "DECLARE\n    i integer;\nBEGIN\n",
            "DECLARE\n"
            "    i integer;\n"
            "    v_items integer[];\n"
            "    v_customers bigint[];\n"
            "    v_available bigint[];\n"
            "    v_points bigint[];\n"
            "    v_part_customers bigint[];\n"
            "    v_part_lots bigint[];\n"
            "    v_part_takes bigint[];\n"
            "    v_part_expiries timestamptz[];\n"
            "    v_part_ranks bigint[];\n"
            "    v_rows tid[];\n"
            "BEGIN\n"
            "    IF (SELECT count(DISTINCT (u.t, u.o)) < count(*)\n"
            "               OR count(DISTINCT u.k) < count(*)\n"
            "        FROM unnest(p_tenant, p_original_id, p_token) AS u(t, o, k)) THEN\n",
        ),
        (
            "    END LOOP;\nEND\n",
            "    END LOOP;\n    RETURN;\n    END IF;\n"
            + """\
    -- The customers of the items whose key check passes, enabled and with nothing due to
    -- settle, locked in id order.
    SELECT array_agg(s.i ORDER BY s.id), array_agg(s.id ORDER BY s.id),
           array_agg(s.ctid ORDER BY s.id)
    INTO v_items, v_customers, v_rows
    FROM (SELECT x.i::integer AS i, c.id, c.ctid
          FROM unnest(p_tenant, p_original_id, p_now) WITH ORDINALITY
               AS x(tenant, original_id, now, i)
          JOIN customer c ON c.tenant_id = x.tenant AND c.original_id = x.original_id
          WHERE c.is_enabled AND (c.settle_at IS NULL OR c.settle_at > x.now)
"""
            + _KEY_CHECKED
            + """\
          ORDER BY c.id
          FOR NO KEY UPDATE OF c) s;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- Those with no debt and points available: all of them held, or `p_most` at most.
    SELECT array_agg(b.i ORDER BY b.c), array_agg(b.c ORDER BY b.c),
           array_agg(b.available ORDER BY b.c), array_agg(b.points ORDER BY b.c)
    INTO v_items, v_customers, v_available, v_points
    FROM (SELECT u.i, u.c, a.available,
                 CASE WHEN p_most[u.i] IS NULL THEN a.available
                      ELSE least(a.available, p_most[u.i]) END AS points
          FROM unnest(v_items, v_customers) AS u(i, c)
          CROSS JOIN LATERAL (
              SELECT coalesce(sum(a.balance) FILTER (WHERE a.kind = 'available'), 0)
                         AS available,
                     coalesce(sum(a.balance) FILTER (WHERE a.kind = 'debt'), 0) AS debt
              FROM account a
              WHERE a.tenant_id = p_tenant[u.i] AND a.customer_id = u.c
                AND a.kind IN ('available', 'debt')) a
          WHERE a.debt = 0 AND a.available > 0) b
    WHERE b.points > 0;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    -- The lots each takes, in spending order (`ledger.repository.list_open_lots`,
    -- `Lot.is_available`, `ledger.service.plan_consumption`): those whose free points before
    -- them fall short of the points to hold, each for what is still wanted; a customer whose
    -- lots do not cover them takes none.
    WITH free AS (
        SELECT u.c, u.points, l.id, l.free, l.expires_at, l.rank,
               sum(l.free) OVER (PARTITION BY u.c ORDER BY l.rank) AS upto
        FROM unnest(v_items, v_customers, v_points) AS u(i, c, points)
        CROSS JOIN LATERAL (
            SELECT l.id, l.remaining - l.held AS free, l.expires_at,
                   row_number() OVER (ORDER BY l.expires_at IS NULL, l.expires_at, l.id) AS rank
            FROM lot l
            WHERE l.customer_id = u.c
              AND l.status IN ('pending', 'available') AND l.remaining > 0
              AND (l.expires_at IS NULL OR l.expires_at > p_now[u.i])
              AND (l.status = 'available' OR l.available_at <= p_now[u.i])
              AND l.remaining > l.held) l),
    taken AS (
        SELECT f.c, f.id, least(f.free, f.points - (f.upto - f.free)) AS take, f.expires_at,
               f.rank,
               max(f.upto) OVER (PARTITION BY f.c) >= f.points AS covered
        FROM free f
        WHERE f.upto - f.free < f.points)
    SELECT array_agg(t.c ORDER BY t.c, t.rank), array_agg(t.id ORDER BY t.c, t.rank),
           array_agg(t.take ORDER BY t.c, t.rank), array_agg(t.expires_at ORDER BY t.c, t.rank),
           array_agg(t.rank ORDER BY t.c, t.rank)
    INTO v_part_customers, v_part_lots, v_part_takes, v_part_expiries, v_part_ranks
    FROM taken t WHERE t.covered;
    IF v_part_customers IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(u.i ORDER BY u.c), array_agg(u.c ORDER BY u.c),
           array_agg(u.available ORDER BY u.c), array_agg(u.points ORDER BY u.c)
    INTO v_items, v_customers, v_available, v_points
    FROM unnest(v_items, v_customers, v_available, v_points) AS u(i, c, available, points)
    WHERE u.c = ANY (v_part_customers);
    -- The holds: a transfer each, its two entries (available to held), the lots' held
    -- points, the customers' due dates (the lock's expiry), the hold, its parts, the lock.
    WITH x AS (
        SELECT u.i, u.customer, u.amount, p_tenant[u.i] AS tenant
        FROM unnest(v_items, v_customers, v_points) AS u(i, customer, amount)),
    t AS (
        INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                              customer_reason, change_key, reverses_id, order_ref, created_at)
        SELECT x.tenant, x.customer, p_type[x.i], x.amount, 0, NULL, NULL, NULL, NULL, NULL, NULL,
               p_now[x.i]
        FROM x
        ORDER BY x.customer
        RETURNING id, customer_id),
"""
            + _posted("available", "held")
            + """    held AS (
        UPDATE lot l SET held = l.held + p.take
        FROM unnest(v_part_lots, v_part_takes) AS p(id, take)
        WHERE l.id = p.id),
    due AS (
        UPDATE customer c SET settle_at = p_expires_at[x.i]
        FROM x
        WHERE c.ctid = ANY (v_rows) AND c.id = x.customer
          AND (c.settle_at IS NULL OR c.settle_at > p_expires_at[x.i])),
    h AS (
        INSERT INTO hold (tenant_id, customer_id, purpose, amount, captured, status,
                          transfer_id, expires_at, created_at)
        SELECT x.tenant, x.customer, 'lock', x.amount, 0, 'active', t.id, p_expires_at[x.i],
               p_now[x.i]
        FROM x JOIN t ON t.customer_id = x.customer
        ORDER BY x.customer
        RETURNING id, customer_id),
    hp AS (
        INSERT INTO hold_part (tenant_id, hold_id, lot_id, amount)
        SELECT x.tenant, h.id, p.lot, p.take
        FROM unnest(v_part_customers, v_part_lots, v_part_takes, v_part_ranks)
             AS p(c, lot, take, rank)
        JOIN x ON x.customer = p.c JOIN h ON h.customer_id = p.c
        ORDER BY p.c, p.rank)
    INSERT INTO cashback_lock (tenant_id, token, customer_id, hold_id, status, points, lock_key,
                               total_cents, details, created_at, expires_at)
    SELECT x.tenant, p_token[x.i], x.customer, h.id, 'active', x.amount, NULL, p_total_cents[x.i],
           p_details[x.i], p_now[x.i], p_expires_at[x.i]
    FROM x JOIN h ON h.customer_id = x.customer
    ORDER BY x.customer;
    RETURN QUERY
    SELECT u.i, u.available,
           (SELECT json_agg(json_build_array(p.lot, p.take, p.expires_at) ORDER BY p.rank)
            FROM unnest(v_part_customers, v_part_lots, v_part_takes, v_part_expiries,
                        v_part_ranks) AS p(c, lot, take, expires_at, rank)
            WHERE p.c = u.c),
           l.l
    FROM unnest(v_items, v_customers, v_available) AS u(i, c, available)
    CROSS JOIN LATERAL (
        SELECT l FROM cashback_lock l WHERE l.token = p_token[u.i] OFFSET 0) AS l;
END
""",
        ),
    ],
)


# Aggregates in the lock's and the commit's set-based batch forms (V3): `array_agg(x)` with no
# ORDER BY of its own (the credits' form keeps its ordered ones: its answers pair each item
# with its transfer by their order). Each ordered aggregate sorts its input apart
# (PostgreSQL 15 does not share one sort between them) and sets up its sort at every call;
# the parallel arrays one statement builds need only agree with each other, which every
# plain aggregate of one aggregation does (each input row is fed to all of them before the
# next). Where an order matters, the statement's subquery or a later statement says it
# (the customers' row locks: `ORDER BY c.id FOR NO KEY UPDATE`; the inserts: their own
# `ORDER BY`).
#
# V3 of the lock's batch form: V2 with its aggregates so (above), and two statements fewer.
# The customers' balances and the lots they take are read by one statement (both come after
# the customers' row locks, as in V2), which also keeps only the customers whose lots cover
# their points (V2's fourth statement); the writes' statement answers (`RETURN QUERY`) with
# the locks its insert returns, where V2 read each back by its token. The customers' due
# dates are written to the rows at the addresses they were locked at, by the address alone
# (`COMMIT_LOCK_MANY_V3` says why).
LOCK_MANY_V3 = _edited(
    LOCK_MANY_V2,
    [
        (
            "    SELECT array_agg(s.i ORDER BY s.id), array_agg(s.id ORDER BY s.id),\n"
            "           array_agg(s.ctid ORDER BY s.id)\n",
            "    SELECT array_agg(s.i), array_agg(s.id), array_agg(s.ctid)\n",
        ),
        (
            LOCK_MANY_V2[
                LOCK_MANY_V2.index("    -- Those with no debt and points available") : (
                    LOCK_MANY_V2.index("    -- The holds: a transfer each")
                )
            ],
            """\
    -- Those with no debt and points available (all of them held, or `p_most` at most), and
    -- the lots each takes, in spending order (`ledger.repository.list_open_lots`,
    -- `Lot.is_available`, `ledger.service.plan_consumption`): those whose free points before
    -- them fall short of the points to hold, each for what is still wanted. A customer whose
    -- lots do not cover the points takes none and is left out. Each customer's first lot
    -- (rank 1: every lot read has free points) gives its row of the customers' arrays.
    WITH b AS (
        SELECT u.i, u.c, u.address, a.available,
               CASE WHEN p_most[u.i] IS NULL THEN a.available
                    ELSE least(a.available, p_most[u.i]) END AS points
        FROM unnest(v_items, v_customers, v_rows) AS u(i, c, address)
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(a.balance) FILTER (WHERE a.kind = 'available'), 0)
                       AS available,
                   coalesce(sum(a.balance) FILTER (WHERE a.kind = 'debt'), 0) AS debt
            FROM account a
            WHERE a.tenant_id = p_tenant[u.i] AND a.customer_id = u.c
              AND a.kind IN ('available', 'debt')) a
        WHERE a.debt = 0 AND a.available > 0),
    free AS (
        SELECT b.i, b.c, b.address, b.available, b.points, l.id, l.free, l.expires_at, l.rank,
               sum(l.free) OVER (PARTITION BY b.c ORDER BY l.rank) AS upto
        FROM b
        CROSS JOIN LATERAL (
            SELECT l.id, l.remaining - l.held AS free, l.expires_at,
                   row_number() OVER (ORDER BY l.expires_at IS NULL, l.expires_at, l.id) AS rank
            FROM lot l
            WHERE l.customer_id = b.c
              AND l.status IN ('pending', 'available') AND l.remaining > 0
              AND (l.expires_at IS NULL OR l.expires_at > p_now[b.i])
              AND (l.status = 'available' OR l.available_at <= p_now[b.i])
              AND l.remaining > l.held) l
        WHERE b.points > 0),
    taken AS (
        SELECT f.i, f.c, f.address, f.available, f.points, f.id,
               least(f.free, f.points - (f.upto - f.free)) AS take, f.expires_at, f.rank,
               max(f.upto) OVER (PARTITION BY f.c) >= f.points AS covered
        FROM free f
        WHERE f.upto - f.free < f.points)
    SELECT array_agg(t.i) FILTER (WHERE t.rank = 1), array_agg(t.c) FILTER (WHERE t.rank = 1),
           array_agg(t.available) FILTER (WHERE t.rank = 1),
           array_agg(t.points) FILTER (WHERE t.rank = 1),
           array_agg(t.address) FILTER (WHERE t.rank = 1),
           array_agg(t.c), array_agg(t.id), array_agg(t.take), array_agg(t.expires_at),
           array_agg(t.rank)
    INTO v_items, v_customers, v_available, v_points, v_rows,
         v_part_customers, v_part_lots, v_part_takes, v_part_expiries, v_part_ranks
    FROM taken t WHERE t.covered;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
""",
        ),
        (
            "    WITH x AS (\n"
            "        SELECT u.i, u.customer, u.amount, p_tenant[u.i] AS tenant\n"
            "        FROM unnest(v_items, v_customers, v_points) AS u(i, customer, amount)),\n",
            "    RETURN QUERY\n"
            "    WITH x AS (\n"
            "        SELECT u.i, u.customer, u.amount, u.available, u.address,\n"
            "               p_tenant[u.i] AS tenant\n"
            "        FROM unnest(v_items, v_customers, v_points, v_available, v_rows)\n"
            "             AS u(i, customer, amount, available, address)),\n",
        ),
        (
            "        WHERE c.ctid = ANY (v_rows) AND c.id = x.customer\n",
            "        WHERE c.ctid = x.address\n",
        ),
        (
            LOCK_MANY_V2[
                LOCK_MANY_V2.index("        ORDER BY p.c, p.rank)\n") : LOCK_MANY_V2.index(
                    "END\n$$"
                )
            ],
            """\
        ORDER BY p.c, p.rank),
    locks AS (
        INSERT INTO cashback_lock (tenant_id, token, customer_id, hold_id, status, points,
                                   lock_key, total_cents, details, created_at, expires_at)
        SELECT x.tenant, p_token[x.i], x.customer, h.id, 'active', x.amount, NULL,
               p_total_cents[x.i], p_details[x.i], p_now[x.i], p_expires_at[x.i]
        FROM x JOIN h ON h.customer_id = x.customer
        ORDER BY x.customer
        RETURNING *)
    SELECT x.i, x.available,
           (SELECT json_agg(json_build_array(p.lot, p.take, p.expires_at) ORDER BY p.rank)
            FROM unnest(v_part_customers, v_part_lots, v_part_takes, v_part_expiries,
                        v_part_ranks) AS p(c, lot, take, expires_at, rank)
            WHERE p.c = x.customer),
           ROW(l.*)::cashback_lock
    FROM locks l JOIN x ON x.customer = l.customer_id;
""",
        ),
    ],
)

# V3 of the commit's batch form: V2 with its aggregates plain (`LOCK_MANY_V3` says why), and
# the writes' statement answering (`RETURN QUERY`) with the locks its update returns, where
# V2 read each back by its token, and each lock updated by the address it was read at alone.
COMMIT_LOCK_MANY_V3 = _edited(
    COMMIT_LOCK_MANY_V2,
    [
        (
            "    SELECT array_agg(s.i ORDER BY s.id), array_agg(s.id ORDER BY s.id)\n",
            "    SELECT array_agg(s.i), array_agg(s.id)\n",
        ),
        (
            "    -- Their locks (locked in the customers' order, as `v_items` is), still active,"
            " each over\n"
            "    -- its active hold of the same points. Each lock and hold by its own key in a"
            " subquery of\n",
            "    -- Their locks, still active, each over its active hold of the same points (in"
            " any order:\n"
            "    -- none is locked before its customer). Each lock and hold by its own key in a"
            " subquery of\n",
        ),
        (
            COMMIT_LOCK_MANY_V2[
                COMMIT_LOCK_MANY_V2.index("    SELECT array_agg(s.i ORDER BY s.customer_id)") : (
                    COMMIT_LOCK_MANY_V2.index("    INTO v_items, v_customers, v_locks")
                )
            ],
            "    SELECT array_agg(s.i), array_agg(s.customer_id), array_agg(s.id),\n"
            "           array_agg(s.hold_id), array_agg(s.points), array_agg(s.ctid)\n",
        ),
        (
            "    -- spent, their movements, the holds and the locks resolved.\n"
            "    WITH x AS (\n"
            "        SELECT u.i, u.customer, u.lock, u.hold, u.amount, p_tenant[u.i] AS tenant\n"
            "        FROM unnest(v_items, v_customers, v_locks, v_holds, v_amounts)\n"
            "             AS u(i, customer, lock, hold, amount)),\n",
            "    -- spent, their movements, the holds and the locks resolved (each lock by the\n"
            "    -- address it was read and locked at, alone: planned on small tables, a join on\n"
            "    -- its id too took the primary key, which starts with the tenant, and read all\n"
            "    -- of it for each lock).\n"
            "    RETURN QUERY\n"
            "    WITH x AS (\n"
            "        SELECT u.i, u.customer, u.lock, u.hold, u.amount, u.address,\n"
            "               p_tenant[u.i] AS tenant\n"
            "        FROM unnest(v_items, v_customers, v_locks, v_holds, v_amounts, v_rows)\n"
            "             AS u(i, customer, lock, hold, amount, address)),\n",
        ),
        (
            COMMIT_LOCK_MANY_V2[
                COMMIT_LOCK_MANY_V2.index("        WHERE h.id = x.hold)\n") : (
                    COMMIT_LOCK_MANY_V2.index("END\n$$")
                )
            ],
            """\
        WHERE h.id = x.hold),
    committed AS (
        UPDATE cashback_lock l
        SET status = 'committed', committed_points = x.amount, capture_transfer_id = t.id,
            order_ref = p_order_ref[x.i], resolved_at = p_now[x.i]
        FROM x JOIN t ON t.customer_id = x.customer
        WHERE l.ctid = x.address
        RETURNING l.*)
    SELECT x.i, ROW(l.*)::cashback_lock
    FROM committed l JOIN x ON x.lock = l.id;
""",
        ),
    ],
)


# V3 of the credits' batch form: V2 with each customer's debt looked up for its own item
# (`OFFSET 0` keeps the lookup a subquery of its item's key: planned on small tables, V2's
# joined the batch to the tenant's debt accounts read through the balances' unique index by
# their kind alone, every account of the tenant's read for each batch), and the customers'
# due dates written to the rows at the addresses they were locked at, by the address alone
# (`COMMIT_LOCK_MANY_V3` says why).
CREDIT_MANY_V3 = _edited(
    CREDIT_MANY_V2,
    [
        (
            "        SELECT u.i, u.c, u.name\n"
            "        FROM unnest(v_items, v_customers, v_names) AS u(i, c, name)\n",
            "        SELECT u.i, u.c, u.name, u.address\n"
            "        FROM unnest(v_items, v_customers, v_names, v_rows)\n"
            "             AS u(i, c, name, address)\n",
        ),
        (
            "              AND a.balance < 0)),\n",
            "              AND a.balance < 0\n            OFFSET 0)),\n",
        ),
        (
            "           array_agg(ok.name ORDER BY ok.c)\n    INTO v_items, v_customers, v_names\n",
            "           array_agg(ok.name ORDER BY ok.c), array_agg(ok.address ORDER BY ok.c)\n"
            "    INTO v_items, v_customers, v_names, v_rows\n",
        ),
        (
            "    FROM unnest(v_items, v_customers) AS u(i, c)\n"
            "    WHERE p_expires_at[u.i] IS NOT NULL AND c.ctid = ANY (v_rows) AND c.id = u.c\n",
            "    FROM unnest(v_items, v_rows) AS u(i, address)\n"
            "    WHERE p_expires_at[u.i] IS NOT NULL AND c.ctid = u.address\n",
        ),
    ],
)
