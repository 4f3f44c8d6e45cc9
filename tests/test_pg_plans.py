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
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fidelis.db.engine import Database
from fidelis.db.migrate import upgrade_to_head
from fidelis.kit.clock import utc_now
from fidelis.ledger import hotpath
from fidelis.ledger.model import PointType, TransferType
from fidelis.tenant import service as tenant_service
from fidelis.tenant.keys import KeyCheck
from tests.conftest import empty_database

pytestmark = pytest.mark.skipif(
    "not os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="PostgreSQL's plans of the one-statement functions (SQLite has none)",
)

OTHERS = 300  # customers who each make one purchase after the plans were made


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


async def _reads(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows of `lot`, `hold` and `hold_part` this session read so far (its counters not yet
    reported)."""
    rows = await conn.fetch(
        "SELECT relname, coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) AS read"
        " FROM pg_stat_xact_user_tables WHERE relname IN ('lot', 'hold', 'hold_part')"
    )
    return {row["relname"]: int(row["read"]) for row in rows}


def _purchase_reads(url: str) -> dict[str, int]:
    """Rows of `lot`, `hold` and `hold_part` one more purchase of a customer reads, in a
    session that made its plans on a new database, after the tenant grew."""

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
            # In one transaction: the session's counters are not handed on (and reset) inside it.
            async with conn.transaction():
                before = await _reads(conn)
                await purchases.purchase("buyer")
                after = await _reads(conn)
            return {table: after[table] - before[table] for table in after}
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


async def _history_reads(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows of `purchase` and `redemption` this session read so far."""
    rows = await conn.fetch(
        "SELECT relname, coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) AS read"
        " FROM pg_stat_xact_user_tables WHERE relname IN ('purchase', 'redemption')"
    )
    return {row["relname"]: int(row["read"]) for row in rows}


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
            async with conn.transaction():
                before = await _history_reads(conn)
                summary = await read()
                after = await _history_reads(conn)
            return {table: after[table] - before[table] for table in after}, summary
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
