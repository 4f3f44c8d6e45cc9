"""The one-statement lock and commit keep their cost per purchase as a tenant grows, with the
plans PostgreSQL made while the tables were small (migrations 0016, 0017, 0019 say why).

PL/pgSQL keeps a plan per statement for the session. On a new install the first purchases
are planned on near-empty tables, where an index that matches the tenant alone looks as good
as the one matching the whole key; a session that kept such a plan read every lot or hold of
the tenant for each purchase. Here one session makes its plans on a new database, the tenant
then grows to hundreds of lots and holds, and one more purchase must still read only its own.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fidelis.db.batches import pack
from fidelis.db.engine import Database
from fidelis.db.migrate import upgrade_to_head
from fidelis.kit.clock import utc_now
from fidelis.ledger import hotpath, pgfunctions
from fidelis.ledger.model import PointType, TransferType
from fidelis.tenant import service as tenant_service
from fidelis.tenant.keys import KeyCheck
from tests.conftest import empty_database

pytestmark = pytest.mark.skipif(
    "not os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="PostgreSQL's plans of the one-statement functions (SQLite has none)",
)

OTHERS = 300  # customers who each make one purchase after the plans were made
PURCHASE_TABLES = ("lot", "hold", "hold_part", "cashback_lock")
# What a purchase or a points add reads by the customer's key.
CUSTOMER_TABLES = ("customer", "account")


@pytest.fixture
def new_database() -> Any:
    with empty_database("fidelis_plans") as url:
        upgrade_to_head(url)
        yield url


class Purchases:
    """Customers, then credits, locks and commits through the hot paths' own statements
    (`ledger.hotpath`), all on one session."""

    def __init__(self, conn: asyncpg.Connection, tenant: int, key: KeyCheck) -> None:
        self.conn = conn
        self.tenant = tenant
        self.key = key

    async def customer(self, original_id: str, points: int) -> None:
        now = datetime.now(UTC)
        await self.conn.execute(
            "INSERT INTO customer (tenant_id, original_id, is_enrolled, is_enabled,"
            " created_at, updated_at) VALUES ($1, $2, true, true, $3, $3)",
            self.tenant,
            original_id,
            now,
        )
        credited = await self.conn.fetchrow(
            hotpath.CREDIT.one,
            *self.key.args(),
            self.tenant,
            original_id,
            now,
            points,
            TransferType.adjustment_credit.value,
            int(PointType.Adjustment),
            "adjustment",
            None,
            "test",
            None,
            "change",
            None,
            "x",
            0,
        )
        assert credited is not None

    async def purchase(self, original_id: str) -> None:
        now = datetime.now(UTC)
        token = uuid.uuid4().hex
        locked = await self.conn.fetchrow(
            hotpath.LOCK.one,
            *self.key.args(),
            self.tenant,
            original_id,
            now,
            5,
            TransferType.hold.value,
            token,
            5,
            "{}",
            now + timedelta(hours=1),
        )
        assert locked is not None, "locked"
        committed = await self.conn.fetchrow(
            hotpath.COMMIT_LOCK.one,
            *self.key.args(),
            self.tenant,
            token,
            now,
            None,
            TransferType.capture.value,
            int(PointType.CashbackUsed),
        )
        assert committed is not None
        assert committed["locked"]["status"] == "committed"

    async def purchases_together(self, original_ids: list[str]) -> None:
        """A purchase of each, their locks in one batch, then their commits in one batch (the
        set-based batch forms)."""
        now = datetime.now(UTC)
        tokens = [uuid.uuid4().hex for _ in original_ids]
        hold, until = TransferType.hold.value, now + timedelta(hours=1)
        locks = [
            (*self.key.args(), self.tenant, customer, now, 5, hold, token, 5, "{}", until)
            for customer, token in zip(original_ids, tokens, strict=True)
        ]
        locked = await self.conn.fetch(hotpath.LOCK.many, pack(locks))
        assert len(locked) == len(original_ids), "locked"
        capture, used = TransferType.capture.value, int(PointType.CashbackUsed)
        commits = [
            (*self.key.args(), self.tenant, token, now, None, capture, used) for token in tokens
        ]
        committed = await self.conn.fetch(hotpath.COMMIT_LOCK.many, pack(commits))
        assert {row["locked"]["status"] for row in committed} == {"committed"}
        assert len(committed) == len(original_ids)

    async def credits_together(self, original_ids: list[str]) -> None:
        """A points add to each, in one batch (the set-based batch form)."""
        now = datetime.now(UTC)
        credit = (TransferType.adjustment_credit.value, int(PointType.Adjustment), "adjustment")
        given = (None, "test", None, "change")  # no expiry, the reason, no customer reason, scope
        items = []
        for customer in original_ids:
            change = (uuid.uuid4().hex, "x")  # the ChangeKey and its request's hash
            items.append(
                (*self.key.args(), self.tenant, customer, now, 10, *credit, *given, *change, 20)
            )
        credited = await self.conn.fetch(hotpath.CREDIT.many, pack(items))
        assert len(credited) == len(original_ids)


async def _connect(url: str) -> asyncpg.Connection:
    """One session of its own (the plans under test live in it)."""
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def _tenant(url: str) -> tuple[int, KeyCheck]:
    db = Database(url)
    try:
        async with db.write() as conn:
            credentials = await tenant_service.create(
                conn, slug="plans", name="Plans", now=utc_now()
            )
    finally:
        await db.dispose()
    conn = await _connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT t.id AS tenant, k.id AS key, t.program::text AS program"
            " FROM tenant t JOIN api_key k ON k.tenant_id = t.id WHERE k.token = $1",
            credentials.api_token,
        )
    finally:
        await conn.close()
    assert row is not None
    key = KeyCheck(row["key"], row["program"], "test", "plans", datetime.now(UTC), 5)
    return int(row["tenant"]), key


async def _rows_read(conn: asyncpg.Connection, *tables: str) -> dict[str, int]:
    """Rows of each of `tables` this session read so far (its counters not yet reported; a
    table not read yet is missing)."""
    rows = await conn.fetch(
        "SELECT relname, coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) AS read"
        " FROM pg_stat_xact_user_tables WHERE relname = ANY ($1::text[])",
        list(tables),
    )
    return {row["relname"]: int(row["read"]) for row in rows}


async def _read_by(
    conn: asyncpg.Connection, tables: tuple[str, ...], work: Callable[[], Awaitable[Any]]
) -> dict[str, int]:
    """Rows of each of `tables` that awaiting `work()` reads. In one transaction: the
    session's counters are not handed on (and reset) inside it."""
    async with conn.transaction():
        before = await _rows_read(conn, *tables)
        await work()
        after = await _rows_read(conn, *tables)
    return {table: after[table] - before.get(table, 0) for table in after}


def _purchase_reads(
    url: str, tables: tuple[str, ...] = PURCHASE_TABLES, *, analyzed: bool = False
) -> dict[str, int]:
    """Rows of `tables` one more purchase of a customer reads, in a session that made its
    plans on a new database, after the tenant grew; `analyzed`: and was then analyzed, as
    autovacuum does as tables grow."""

    async def work() -> dict[str, int]:
        tenant, key = await _tenant(url)
        conn = await _connect(url)
        try:
            purchases = Purchases(conn, tenant, key)
            await purchases.customer("buyer", 1000)
            for _ in range(8):  # past the plan cache's five custom plans
                await purchases.purchase("buyer")
            for n in range(OTHERS):
                await purchases.customer(f"other-{n}", 100)
                await purchases.purchase(f"other-{n}")
            if analyzed:
                await conn.execute("ANALYZE")
            return await _read_by(conn, tables, partial(purchases.purchase, "buyer"))
        finally:
            await conn.close()

    return asyncio.run(work())


def test_a_purchase_reads_its_own_lots_and_hold_however_big_the_tenant(
    new_database: str,
) -> None:
    read = _purchase_reads(new_database)
    # The buyer's one lot, read by the lock and updated by the lock and the commit; the hold,
    # read and updated by the commit; its one part, read twice. Not the tenant's hundreds.
    assert read["lot"] <= 6, read
    assert read["hold"] <= 4, read
    assert read["hold_part"] <= 4, read


def test_a_commit_finds_its_hold_parts_without_an_index_that_starts_with_the_tenant(
    new_database: str,
) -> None:
    # The index a plan made on small tables may prefer or not (they tie there), gone: the
    # commit reads the parts by the hold's own key, or through the primary key, which starts
    # with the tenant and gives the tenant's parts in their order, every one of them.
    async def drop() -> None:
        conn = await _connect(new_database)
        try:
            await conn.execute("DROP INDEX ix_hold_part_hold")
        finally:
            await conn.close()

    asyncio.run(drop())
    assert _purchase_reads(new_database)["hold_part"] <= 4


async def _planned_small_then_grown(
    conn: asyncpg.Connection,
    tenant: int,
    key: KeyCheck,
    send: Callable[[Purchases, list[str]], Awaitable[None]],
    others: int,
) -> tuple[Purchases, list[str]]:
    """On a new database analyzed while small (as one is after its first `ANALYZE`), the
    session's plans made by batches `send` of two buyers, then the tenant grown by `others`
    customers served in pairs. Returns the session's `Purchases` and the two buyers."""
    await conn.execute("ANALYZE")
    purchases = Purchases(conn, tenant, key)
    buyers = ["buyer-1", "buyer-2"]
    for buyer in buyers:
        await purchases.customer(buyer, 1000)
    for _ in range(8):  # past the plan cache's five custom plans
        await send(purchases, buyers)
    for n in range(0, others, 2):
        pair = [f"other-{n}", f"other-{n + 1}"]
        for other in pair:
            await purchases.customer(other, 100)
        await send(purchases, pair)
    return purchases, buyers


def _batch_reads(
    url: str,
    send: Callable[[Purchases, list[str]], Awaitable[None]],
    tables: tuple[str, ...],
    *,
    analyzed: bool = False,
) -> dict[str, int]:
    """Rows of `tables` one more batch `send` of two customers' requests reads, in a session
    that made its plans on a new database, after the tenant grew by `OTHERS` customers
    (`_planned_small_then_grown`); `analyzed`: and was then analyzed again
    (`_purchase_reads`)."""

    async def work() -> dict[str, int]:
        tenant, key = await _tenant(url)
        conn = await _connect(url)
        try:
            purchases, buyers = await _planned_small_then_grown(conn, tenant, key, send, OTHERS)
            if analyzed:
                await conn.execute("ANALYZE")
            return await _read_by(conn, tables, partial(send, purchases, buyers))
        finally:
            await conn.close()

    return asyncio.run(work())


def test_a_batch_of_purchases_reads_only_its_own_however_big_the_tenant(
    new_database: str,
) -> None:
    """The set-based batch forms: a plan of the commits' customers made while the tables were
    small took the tenant's locks through the primary key, and read every one of them for each
    commit."""
    read = _batch_reads(new_database, Purchases.purchases_together, PURCHASE_TABLES)
    # Each buyer's lot, hold, part and lock, each read a few times by the lock and the commit
    # (by key, to check, to update, to answer). Not the tenant's hundreds.
    assert read["cashback_lock"] <= 16, read
    assert read["lot"] <= 12, read
    assert read["hold"] <= 8, read
    assert read["hold_part"] <= 8, read


def test_a_batch_of_points_adds_reads_only_its_own_however_big_the_tenant(
    new_database: str,
) -> None:
    """The credits' set-based batch form, with plans made on a database analyzed while small."""
    read = _batch_reads(new_database, Purchases.credits_together, ("account", "lot"))
    # The two customers' accounts, each read a few times (for debt, to credit, for the
    # answer). Not the tenant's hundreds.
    assert read["account"] <= 24, read


# The customer by the tenant's key (its OriginalId, or its id): on near-empty tables every
# index that starts with the tenant costs the same as the one that matches the whole key, and
# a plan made there may read all the tenant's customers for each request (the lock's and the
# commit's, alone and in batches, and the credits' batches did so here, with no ANALYZE since
# the tables were small). No index design avoids that tie. An ANALYZE, which autovacuum runs
# as a table grows, makes every session plan those statements again, for the tables as they
# are (the README asks to keep autovacuum on).
def test_once_analyzed_a_session_reads_only_its_own_customers_for_a_purchase(
    new_database: str,
) -> None:
    read = _purchase_reads(new_database, CUSTOMER_TABLES, analyzed=True)
    # The buyer, read by the lock and by the commit, to lock and check it; its accounts,
    # for the lock's balance and both movements.
    assert read["customer"] <= 4, read
    assert read["account"] <= 8, read


def test_once_analyzed_a_session_reads_only_its_own_customers_for_batches(
    new_database: str,
) -> None:
    purchases = _batch_reads(
        new_database, Purchases.purchases_together, CUSTOMER_TABLES, analyzed=True
    )
    assert purchases["customer"] <= 8, purchases
    assert purchases["account"] <= 16, purchases


def test_once_analyzed_a_session_reads_only_its_own_customers_for_points_adds(
    new_database: str,
) -> None:
    credits = _batch_reads(new_database, Purchases.credits_together, CUSTOMER_TABLES, analyzed=True)
    assert credits["customer"] <= 6, credits
    assert credits["account"] <= 24, credits


async def _sourced_history(conn: asyncpg.Connection, tenant: int, original_id: str) -> None:
    """A customer with a movement of an order and one of a redemption (rows as the services
    write them, for what the history reads of them)."""
    now = datetime.now(UTC)
    customer = await conn.fetchval(
        "INSERT INTO customer (tenant_id, original_id, is_enrolled, is_enabled, created_at,"
        " updated_at) VALUES ($1, $2, true, true, $3, $3) RETURNING id",
        tenant,
        original_id,
        now,
    )
    order_ref = f"order-of-{original_id}"
    await conn.execute(
        "INSERT INTO purchase (tenant_id, original_id, customer_id, state, total_cents,"
        " refunded_cents, earned_points, reversed_points, details, created_at, updated_at)"
        " VALUES ($1, $2, $3, 2, 10000, 0, 100, 0, $4, $5, $5)",
        tenant,
        order_ref,
        customer,
        '{"Branch": {"OriginalId": "b1", "Name": "Centro"}}',
        now,
    )
    moves = {}
    for point_type, points in ((int(PointType.Purchase), 100), (int(PointType.Redemption), -50)):
        moves[point_type] = await conn.fetchval(
            "INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type,"
            " order_ref, created_at) VALUES ($1, $2, 'x', $3, $4, $5, $6, $7) RETURNING id",
            tenant,
            customer,
            abs(points),
            points,
            point_type,
            order_ref if point_type == int(PointType.Purchase) else None,
            now,
        )
    await conn.execute(
        "INSERT INTO redemption (tenant_id, customer_id, reward_type, external_code, points,"
        " transfer_id, is_canceled, details, created_at)"
        " VALUES ($1, $2, 1, $3, 50, $4, false, '{}', $5)",
        tenant,
        customer,
        uuid.uuid4().hex[:20],
        moves[int(PointType.Redemption)],
        now,
    )


def test_a_points_read_looks_up_only_its_own_orders_and_redemptions_however_big_the_tenant(
    new_database: str,
) -> None:
    async def work() -> tuple[dict[str, int], Any]:
        tenant, key = await _tenant(new_database)
        conn = await _connect(new_database)
        try:

            async def read() -> Any:
                return await conn.fetchrow(
                    hotpath.SUMMARY, tenant, "reader", datetime.now(UTC), 20, *key.args()
                )

            await _sourced_history(conn, tenant, "reader")
            for _ in range(8):  # past the plan cache's five custom plans
                await read()
            for n in range(OTHERS):
                await _sourced_history(conn, tenant, f"other-{n}")
            summaries = []

            async def read_one() -> None:
                summaries.append(await read())

            reads = await _read_by(conn, ("purchase", "redemption"), read_one)
            return reads, summaries[0]
        finally:
            await conn.close()

    read, summary = asyncio.run(work())
    history = json.loads(summary[2])["history"]
    assert [item[3] for item in history] == [int(PointType.Redemption), int(PointType.Purchase)]
    assert [item[9:] for item in history] == [[history[0][9], None, None], [None, "b1", "Centro"]]
    assert history[0][9] is not None
    # Its own order, its own redemption (its id and its details): not the tenant's hundreds.
    assert read["purchase"] <= 1, read
    assert read["redemption"] <= 2, read


def test_every_hot_function_keeps_one_plan_of_index_scans(new_database: str) -> None:
    """`CREATE OR REPLACE` drops a function's settings: a migration that replaced one of the
    hot paths' functions without setting them again would leave it planning afresh at every
    call (`pgfunctions.one_plan`), or free to plan sequential scans on a new install's tables
    (`pgfunctions.index_scans_only`)."""

    async def settings() -> dict[str, list[str]]:
        conn = await _connect(new_database)
        try:
            rows = await conn.fetch(
                "SELECT proname, coalesce(proconfig, '{}') AS config FROM pg_proc"
                " WHERE proname = ANY ($1::text[])",
                list(pgfunctions.HOT_FUNCTIONS),
            )
        finally:
            await conn.close()
        return {row["proname"]: list(row["config"]) for row in rows}

    found = asyncio.run(settings())
    assert sorted(found) == sorted(pgfunctions.HOT_FUNCTIONS)
    for name, config in found.items():
        assert "plan_cache_mode=force_generic_plan" in config, (name, config)
    # Every function that runs statements of its own plans index scans only; the wrapper
    # `fidelis_credit_now_for_key` only calls the others.
    wrappers = {"fidelis_credit_now_for_key"}
    for name, config in found.items():
        assert name in wrappers or "enable_seqscan=off" in config, (name, config)


# Indexes left out of the check below: the control plane's (a few tenants and keys), and the
# customer's by the tenant's key, which tie with each other on near-empty tables whatever the
# design until an ANALYZE (the tests above, analyzed, count the customers read).
SMALL_OR_TIED = {
    "pk_tenant",
    "ix_api_key_tenant_id",
    "uq_customer_tenant_id_original_id",
    "uq_customer_tenant_id_document",
    "uq_customer_tenant_id_email_key",
}


def _index_scans_off_their_lead(
    url: str, send: Callable[[Purchases, list[str]], Awaitable[None]]
) -> list[str]:
    """The index scans, in the plans one more batch `send` runs in a session that made its
    plans on a new database (`_planned_small_then_grown`), whose condition leaves the index's
    first column free: such a scan reads the whole index for each row it finds, and so costs
    more as the table grows, though it returns only its own rows (which the counts of rows
    read above cannot see). The plans as the session keeps them, from `auto_explain`."""

    async def work() -> list[str]:
        tenant, key = await _tenant(url)
        conn = await _connect(url)
        try:
            purchases, buyers = await _planned_small_then_grown(conn, tenant, key, send, 40)
            leads = dict(
                await conn.fetch(
                    "SELECT c.relname, a.attname FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid"
                    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                )
            )
            plans: list[str] = []
            conn.add_log_listener(lambda _conn, message: plans.append(message.message))
            await conn.execute(
                "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
                " SET auto_explain.log_nested_statements = on;"
                " SET auto_explain.log_level = notice; SET client_min_messages = notice"
            )
            await send(purchases, buyers)
        finally:
            await conn.close()
        off_lead = []
        for plan in plans:
            lines = plan.splitlines()
            for n, line in enumerate(lines):
                scan = re.search(
                    r"Index (?:Only )?Scan(?: Backward)? using (\w+)|Index Scan on (\w+)", line
                )
                if scan is None:
                    continue
                index = scan.group(1) or scan.group(2)
                if index in SMALL_OR_TIED:
                    continue
                cond = next((c for c in lines[n + 1 : n + 4] if "Index Cond:" in c), "")
                if not re.search(rf"\b{leads[index]}\b", cond):
                    off_lead.append(f"{line.strip()} {cond.strip()}")
        assert plans, "no plans logged"
        return off_lead

    return asyncio.run(work())


def test_a_batch_of_purchases_scans_no_index_off_its_first_column(new_database: str) -> None:
    """The commit's update of its locks and the lock's of its customers' due dates find their
    rows by their address (`ctid`), which the batch read them at; planned on small tables, a
    commit batch found each lock it updated by its id through the primary key, which starts
    with the tenant: the whole index read for each lock, the batch's cost growing with the
    tenant's purchases (W2 of the benchmark fell by 40% in a minute, until the sessions
    planned again)."""
    assert _index_scans_off_their_lead(new_database, Purchases.purchases_together) == []


def test_a_batch_of_points_adds_scans_no_index_off_its_first_column(new_database: str) -> None:
    """The credits' form: a customer's debt by its own key (planned on small tables, the batch
    was joined to the tenant's debt accounts read through the balances' index by their kind
    alone), its due date written at the row's address alone."""
    assert _index_scans_off_their_lead(new_database, Purchases.credits_together) == []
