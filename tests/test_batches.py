"""Group commit on PostgreSQL (`db.batches`): concurrent hot-path writes go to the database
together, one call and one transaction, and each request still gets exactly its own answer.

The batch line is tested on a function of the test's own that logs each call with its
transaction: requests that waited while a batch was in flight are sent together; an item the
database refuses fails alone, the others written once each (the failed batch left nothing);
a request given up before its batch was sent is never written. Then through the API, with real
parallel requests: points adds, locks and commits of many customers at once, and of one
customer, all applied once, each answer the customer's state right after its own change.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from fidelis.db.batches import Call
from fidelis.db.engine import Database
from fidelis.errors import ServiceUnavailable
from fidelis.ledger import pgfunctions
from tests.conftest import Server, TenantHandle, add_points, points_of, upsert
from tests.test_metrics import scrape, value
from tests.test_points_paths import comparable

pytestmark = pytest.mark.skipif(
    "not os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="PostgreSQL's batches (SQLite's hot path has its own group commit: "
    "test_sqlite_batches.py)",
)

# `test_echo(v)` logs v with its transaction and gives it back; -1 fails, -2 gives no row,
# 0 and 9 sleep first, 50 waits for advisory lock 50 (which a test may hold).
_ECHO = [
    "CREATE TABLE IF NOT EXISTS test_echo_log (v integer, tx bigint)",
    """CREATE OR REPLACE FUNCTION test_echo(p_v integer) RETURNS TABLE (v integer)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_v IN (0, 9) THEN PERFORM pg_sleep(0.3); END IF;
    IF p_v = 50 THEN PERFORM pg_advisory_xact_lock(50); END IF;
    INSERT INTO test_echo_log VALUES (p_v, txid_current());
    IF p_v = -1 THEN RAISE EXCEPTION 'refused'; END IF;
    IF p_v = -2 THEN RETURN; END IF;
    RETURN QUERY SELECT p_v;
END
$$""",
    "DROP FUNCTION IF EXISTS test_echo_many",
    pgfunctions._batch_form("test_echo", [("p_v", "integer")], "v integer", "f.*", "SELECT 0"),
    "TRUNCATE test_echo_log",
]
ECHO = Call.of("test_echo", [("p_v", "integer")], "v")


@pytest.fixture
def echo_url(database_url: str) -> str:
    """The test database, with `test_echo` and its batch form installed, its log empty."""

    async def install() -> None:
        setup = Database(database_url)
        try:
            async with setup.write() as conn:
                for statement in _ECHO:
                    await conn.execute(text(statement))
        finally:
            await setup.dispose()

    asyncio.run(install())
    return database_url


@pytest.fixture
def db(echo_url: str) -> Database:
    return Database(echo_url, batches_in_flight=1)


async def _log(db: Database) -> list[tuple[int, int]]:
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT v, tx FROM test_echo_log ORDER BY v"))
        return [(r.v, r.tx) for r in rows]


def test_requests_that_wait_go_together_in_one_transaction(db: Database) -> None:
    async def work() -> None:
        try:
            first = asyncio.create_task(db.batched(ECHO, (0,)))  # in flight, 0.3 s
            await asyncio.sleep(0.1)
            rest = [asyncio.create_task(db.batched(ECHO, (v,))) for v in range(1, 11)]
            rows = await asyncio.gather(first, *rest)
            assert [r["v"] for r in rows] == list(range(11))
            log = await _log(db)
            assert [v for v, _ in log] == list(range(11))
            # The first alone; the ten that waited for it in one transaction of their own.
            assert len({tx for v, tx in log if v > 0}) == 1
            assert log[0][1] not in {tx for v, tx in log if v > 0}
        finally:
            await db.dispose()

    asyncio.run(work())


def test_an_item_the_database_refuses_fails_alone(db: Database) -> None:
    async def work() -> None:
        try:
            first = asyncio.create_task(db.batched(ECHO, (0,)))
            await asyncio.sleep(0.1)
            values = [1, 2, -1, 3, -2, 4]
            rest = [asyncio.create_task(db.batched(ECHO, (v,))) for v in values]
            answers = await asyncio.gather(first, *rest, return_exceptions=True)
            assert answers[0]["v"] == 0
            by_value = dict(zip(values, answers[1:], strict=True))
            assert isinstance(by_value[-1], asyncpg.RaiseError)
            assert by_value[-2] is None  # no row: None, as alone
            assert {v: by_value[v]["v"] for v in (1, 2, 3, 4)} == {1: 1, 2: 2, 3: 3, 4: 4}
            # Written once each, each alone after the batch failed; the refused one never.
            log = await _log(db)
            assert sorted(v for v, _ in log) == [-2, 0, 1, 2, 3, 4]
            assert len({tx for _, tx in log}) == 6
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_batch_whose_arguments_do_not_pack_goes_item_by_item(db: Database) -> None:
    """A batch's arguments go to PostgreSQL in one JSON document (`pack`); an integer beyond
    64 bits has no place in it, so that batch's items go alone, and only that one fails (the
    driver refuses it for the function's integer parameter)."""

    async def work() -> None:
        try:
            first = asyncio.create_task(db.batched(ECHO, (0,)))
            await asyncio.sleep(0.1)
            values = [1, 2**70, 3]
            rest = [asyncio.create_task(db.batched(ECHO, (v,))) for v in values]
            answers = await asyncio.gather(first, *rest, return_exceptions=True)
            assert [answers[0]["v"], answers[1]["v"], answers[3]["v"]] == [0, 1, 3]
            assert isinstance(answers[2], asyncpg.DataError)
            log = await _log(db)
            assert sorted(v for v, _ in log) == [0, 1, 3]
            assert len({tx for _, tx in log}) == 3
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_request_given_up_before_its_batch_is_sent_is_never_written(db: Database) -> None:
    async def work() -> None:
        try:
            first = asyncio.create_task(db.batched(ECHO, (0,)))
            await asyncio.sleep(0.1)
            given_up = asyncio.create_task(db.batched(ECHO, (5,)))
            kept = asyncio.create_task(db.batched(ECHO, (6,)))
            await asyncio.sleep(0)
            given_up.cancel()
            assert (await first)["v"] == 0
            assert (await kept)["v"] == 6
            assert given_up.cancelled()
            assert [v for v, _ in await _log(db)] == [0, 6]
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_request_given_up_while_waiting_for_a_connection_is_never_written(
    echo_url: str,
) -> None:
    async def work() -> None:
        db = Database(echo_url, pool_size=2)  # one kept connection
        try:
            release = asyncio.Event()

            async def hold_the_connection() -> None:
                async with db.at_once(write=False) as driver:
                    await driver.fetchval("SELECT 1")
                    await release.wait()

            holder = asyncio.create_task(hold_the_connection())
            await asyncio.sleep(0.1)
            given_up = asyncio.create_task(db.batched(ECHO, (7,)))
            await asyncio.sleep(0.1)  # its batch formed, waiting for the connection
            given_up.cancel()
            release.set()
            await holder
            assert (await db.batched(ECHO, (8,)))["v"] == 8
            assert given_up.cancelled()
            assert [v for v, _ in await _log(db)] == [8]
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_request_given_up_in_a_refused_batch_is_not_sent_again_alone(db: Database) -> None:
    async def work() -> None:
        try:
            first = asyncio.create_task(db.batched(ECHO, (0,)))
            await asyncio.sleep(0.1)
            slow = asyncio.create_task(db.batched(ECHO, (9,)))  # sleeps, then the batch fails
            given_up = asyncio.create_task(db.batched(ECHO, (8,)))
            refused = asyncio.create_task(db.batched(ECHO, (-1,)))
            await first
            await asyncio.sleep(0.1)  # the batch of 9, 8 and -1 is in flight
            given_up.cancel()
            assert (await slow)["v"] == 9
            with pytest.raises(asyncpg.RaiseError):
                await refused
            assert given_up.cancelled()
            assert [v for v, _ in await _log(db)] == [0, 9]
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_request_given_up_after_its_deadline_in_a_refused_batch_is_not_sent_again(
    echo_url: str,
) -> None:
    async def work() -> None:
        db = Database(echo_url, timeout=0.2)
        try:
            first = asyncio.create_task(db.batched(ECHO, (1,)))
            await asyncio.sleep(0)
            # Sent together while the first is in flight: 9 sleeps past the deadline, -1 fails.
            slow = asyncio.create_task(db.batched(ECHO, (9,)))
            given_up = asyncio.create_task(db.batched(ECHO, (8,)))
            refused = asyncio.create_task(db.batched(ECHO, (-1,)))
            assert (await first)["v"] == 1
            await asyncio.sleep(0.25)  # past the deadline, still in flight
            given_up.cancel()
            assert (await slow)["v"] == 9
            with pytest.raises(asyncpg.RaiseError):
                await refused
            assert given_up.cancelled()
            assert [v for v, _ in await _log(db)] == [1, 9]
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_batch_stuck_on_a_lock_fails_whole_and_those_behind_it_are_refused_in_time(
    echo_url: str,
) -> None:
    async def work() -> None:
        # A timeout of 1 s: requests wait at most that long to be sent; the database gives
        # up on a lock after 3 s (`lock_timeout`, three times it).
        db = Database(echo_url, timeout=1)
        other = await asyncpg.connect(echo_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await other.execute("SELECT pg_advisory_lock(50)")
            stuck = asyncio.create_task(db.batched(ECHO, (50,)))
            await asyncio.sleep(0.1)
            behind = asyncio.create_task(db.batched(ECHO, (51,)))
            with pytest.raises(ServiceUnavailable):
                await behind
            assert not stuck.done(), "refused before the stuck one ended"
            with pytest.raises(ServiceUnavailable):
                await stuck
            # Not sent again item by item: a batch stuck on a lock fails as a whole.
            stuck_pair = [asyncio.create_task(db.batched(ECHO, (v,))) for v in (0, 50, 52)]
            answers = await asyncio.gather(*stuck_pair, return_exceptions=True)
            assert answers[0]["v"] == 0
            assert [type(a) for a in answers[1:]] == [ServiceUnavailable, ServiceUnavailable]
            assert [v for v, _ in await _log(db)] == [0]
        finally:
            await other.close()
            await db.dispose()

    asyncio.run(work())


def _parallel(calls: list[Any]) -> list[Any]:
    start = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _batched_items(tenant: TenantHandle, function: str) -> tuple[float, float]:
    samples = scrape(tenant)
    labels = {"function": function}
    return (
        value(samples, "fidelis_db_batch_items_count", **labels),
        value(samples, "fidelis_db_batch_items_sum", **labels),
    )


def test_parallel_points_adds_are_each_applied_once_with_their_own_answer(
    tenant: TenantHandle,
) -> None:
    customers = [f"b-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    for customer in customers:
        upsert(tenant, customer)
    batches_before, items_before = _batched_items(tenant, "fidelis_credit_now_for_key")
    adds = [(c, 10 ** (k % 4)) for k in range(4) for c in customers]  # 1, 10, 100, 1000 each
    answers = _parallel(
        [lambda c=c, p=p: add_points(tenant, c, p, ChangeKey=uuid.uuid4().hex) for c, p in adds]
    )
    assert [a.status_code for a in answers] == [200] * len(adds)
    for customer in customers:
        assert points_of(tenant, customer)["PointsBalance"] == 1111
        # One after the other: each answer shows the balance right after its own add (its
        # movements so far, its own the newest).
        mine = [
            (p, a.json()["Result"])
            for (c, p), a in zip(adds, answers, strict=True)
            if c == customer
        ]
        assert sorted(r["PointsBalance"] for _, r in mine)[-1] == 1111
        assert len({r["PointsBalance"] for _, r in mine}) == 4
        for points, result in mine:
            history = result["PointHistory"]
            assert history[0]["Points"] == points
            assert sum(h["Points"] for h in history) == result["PointsBalance"]
    batches, items = _batched_items(tenant, "fidelis_credit_now_for_key")
    assert items - items_before == len(adds)
    assert batches - batches_before < len(adds), "some adds went together"


def test_a_batch_of_different_customers_writes_what_they_would_one_by_one(
    make_tenant: Callable[[], TenantHandle], server: Server
) -> None:
    """Adds to different customers go through the batch form's set-based path (one statement
    per write for all of them): each answer, and each customer's points after, are those the
    same adds give one after the other, in the cases the batch serves (a customer's first
    movement, with and without expiry, with and without a ChangeKey) and those it leaves to
    the general path (disabled, in debt, a key used before, no such customer)."""
    batched = _credit_cases(make_tenant(), make_tenant(), server)
    one_by_one = _credit_cases(make_tenant(), make_tenant(), server)
    blocker = batched.tenant
    upsert(blocker, "blocker")
    before = _batched_items(blocker, "fidelis_credit_now_for_key")
    got = _gathered(
        server,
        "fidelis_credit_now_for_key",
        blocker,
        lambda: add_points(blocker, "blocker", 1),
        batched.adds,
    )
    count, items = _batched_items(blocker, "fidelis_credit_now_for_key")
    assert (count - before[0], items - before[1]) == (2, 1 + len(batched.adds))
    expected = [add() for add in one_by_one.adds]
    # Refused: the disabled customer (400), the ChangeKey used before (409), no such customer.
    assert [a.status_code for a in got] == [200, 200, 400, 200, 409, 404, 200, 200, 200]
    odd = got[-1].json()["Result"]
    assert (odd["PointHistory"][0]["Title"], odd["PointHistory"][0]["ExpirationDate"]) == (
        ODD_TEXT,
        "2031-05-04T13:20:30.123456Z",
    )
    assert [a.status_code for a in expected] == [a.status_code for a in got]
    for mine, theirs in zip(got, expected, strict=True):
        if mine.status_code == 200:
            assert _timeless(mine.json()) == _timeless(theirs.json())
    for (tenant, customer), (twin, _) in zip(batched.customers, one_by_one.customers, strict=True):
        assert _timeless(points_of(tenant, customer)) == _timeless(points_of(twin, customer))


def test_a_batch_of_commits_of_different_customers_writes_what_they_would_one_by_one(
    make_tenant: Callable[[], TenantHandle], server: Server
) -> None:
    """Commits of different customers' locks go through the batch form's set-based path: each
    answer, and each customer's points after, are those of the same commits one after the
    other, in the cases it serves (with and without an order) and those it leaves to the
    general path (a lock already committed, one rolled back, no such lock)."""
    batched = _commit_cases(make_tenant(), make_tenant())
    one_by_one = _commit_cases(make_tenant(), make_tenant())
    blocker = batched.tenant
    first = _locked(blocker, "blocker")
    before = _batched_items(blocker, "fidelis_commit_lock_now")
    got = _gathered(
        server,
        "fidelis_commit_lock_now",
        blocker,
        lambda: _commit(blocker, first),
        batched.adds,
    )
    count, items = _batched_items(blocker, "fidelis_commit_lock_now")
    assert (count - before[0], items - before[1]) == (2, 1 + len(batched.adds))
    expected = [commit() for commit in one_by_one.adds]
    # The lock committed before answers as it is (committed); refused: the one rolled back
    # (409), no such lock (404).
    assert [a.status_code for a in got] == [200, 200, 200, 409, 404, 200, 200]
    assert [a.status_code for a in expected] == [a.status_code for a in got]
    for mine, theirs in zip(got, expected, strict=True):
        assert _tokenless(mine.json()) == _tokenless(theirs.json())
    for (tenant, customer), (twin, _) in zip(batched.customers, one_by_one.customers, strict=True):
        assert _timeless(points_of(tenant, customer)) == _timeless(points_of(twin, customer))


def test_a_batch_of_locks_of_different_customers_writes_what_they_would_one_by_one(
    make_tenant: Callable[[], TenantHandle], server: Server
) -> None:
    """Cashback locks of different customers go through the batch form's set-based path: each
    answer, and each customer's points after, are those of the same locks one after the
    other, in the cases it serves (one lot, several lots in spending order, part of a lot,
    expiring points) and those it leaves to the general path (no points, disabled, no such
    customer)."""
    batched = _lock_cases(make_tenant(), make_tenant())
    one_by_one = _lock_cases(make_tenant(), make_tenant())
    blocker = batched.tenant
    upsert(blocker, "blocker")
    assert add_points(blocker, "blocker", 1000).status_code == 200
    before = _batched_items(blocker, "fidelis_lock_now")
    got = _gathered(
        server,
        "fidelis_lock_now",
        blocker,
        lambda: _lock(blocker, "blocker", "1.00"),
        batched.adds,
    )
    count, items = _batched_items(blocker, "fidelis_lock_now")
    assert (count - before[0], items - before[1]) == (2, 1 + len(batched.adds))
    expected = [lock() for lock in one_by_one.adds]
    # Without a lock: nothing to hold, the disabled customer; no such customer (404).
    assert [a.status_code for a in got] == [200, 200, 200, 200, 200, 404, 200]
    assert [a.status_code for a in expected] == [a.status_code for a in got]
    for mine, theirs in zip(got, expected, strict=True):
        assert _tokenless(mine.json()) == _tokenless(theirs.json())
    assert [a.json().get("lock_token") is None for a in got] == [False] * 3 + [True] * 3 + [False]
    for (tenant, customer), (twin, _) in zip(batched.customers, one_by_one.customers, strict=True):
        assert _timeless(points_of(tenant, customer)) == _timeless(points_of(twin, customer))


def _lock_cases(plain: TenantHandle, expiring: TenantHandle) -> _CreditCases:
    """The locks of the test above, on two new tenants (the second's points expire), with the
    customers given their points."""
    cases = _CreditCases(plain)
    program = {"PointsExpireAfterDays": 30}
    assert expiring.http.put("/v1/admin/program", json=program).status_code == 200
    for tenant, buyer, lots in [
        (plain, "one", [1000]),
        (plain, "several", [300, 200, 500]),
        (plain, "little", [50]),
        (plain, "none", []),
        (plain, "off", [100]),
        (expiring, "several", [300, 200]),
    ]:
        upsert(tenant, buyer)
        for points in lots:
            assert add_points(tenant, buyer, points).status_code == 200
        cases.customers.append((tenant, buyer))
    disable = {"IsEnabled": False, "Reason": "fraude"}
    assert plain.http.post("/v1/pvt/Customer/off/changestatus", json=disable).status_code == 200
    for tenant, buyer, total in [
        (plain, "one", "2.50"),
        (plain, "several", "4.00"),
        (plain, "little", "9.00"),
        (plain, "none", "1.00"),
        (plain, "off", "1.00"),
        (plain, "nobody", "1.00"),
        (expiring, "several", "3.50"),
    ]:
        cases.adds.append(lambda t=tenant, b=buyer, v=total: _lock(t, b, v))
    return cases


def _lock(tenant: TenantHandle, buyer: str, total: str) -> httpx.Response:
    body = {"customer_id": buyer, "total": total}
    return tenant.http.post("/v1/rewards/lock", json=body, headers={"brand": tenant.slug})


def _commit_cases(plain: TenantHandle, other: TenantHandle) -> _CreditCases:
    """The commits of the test above, on two new tenants, with their locks taken."""
    cases = _CreditCases(plain)
    tokens = {}
    for tenant, buyer in [(plain, f"b{n}") for n in range(1, 5)] + [(other, "b1"), (other, "b2")]:
        tokens[tenant.slug, buyer] = _locked(tenant, buyer)
        cases.customers.append((tenant, buyer))
    assert _commit(plain, tokens[plain.slug, "b3"]).status_code == 200
    rollback = {"lock_token": tokens[plain.slug, "b4"]}
    answer = plain.http.post("/v1/rewards/rollback", json=rollback, headers={"brand": plain.slug})
    assert answer.status_code == 200, answer.text
    for tenant, buyer, order in [
        (plain, "b1", None),
        (plain, "b2", "order-2"),
        (plain, "b3", None),
        (plain, "b4", None),
        (plain, None, None),
        (other, "b1", None),
        (other, "b2", "order-2"),
    ]:
        token = "no-such-lock" if buyer is None else tokens[tenant.slug, buyer]
        cases.adds.append(lambda t=tenant, k=token, o=order: _commit(t, k, o))
    return cases


def _locked(tenant: TenantHandle, buyer: str) -> str:
    """A lock of all of R$ 1.00 of `buyer` (a new customer, given 1 000 points first)."""
    upsert(tenant, buyer)
    assert add_points(tenant, buyer, 1000).status_code == 200
    token: str = _reserve(tenant, "lock", {"customer_id": buyer, "total": "1.00"})["lock_token"]
    return token


def _commit(tenant: TenantHandle, token: str, order: str | None = None) -> httpx.Response:
    body = {"lock_token": token} | ({"order_id": order} if order else {})
    return tenant.http.post("/v1/rewards/commit", json=body, headers={"brand": tenant.slug})


def _tokenless(answer: dict[str, Any]) -> Any:
    """An answer of the reservation API without what differs between two tenants' locks: their
    tokens and ids (the lots' in `rewards`), and instants (`_alike`)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "id" and "token" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return _alike(strip(answer))


def _gathered(
    server: Server,
    function: str,
    blocker: TenantHandle,
    first: Callable[[], httpx.Response],
    calls: list[Callable[[], httpx.Response]],
) -> list[httpx.Response]:
    """The answers to `calls`, sent while `first` (a write of `function` by the customer
    "blocker" of tenant `blocker`) is in flight, held on that customer's row lock: they gather
    behind it, and go together in one batch once it is let go."""
    batches = server.app.state.db._batches
    locked, release = threading.Event(), threading.Event()

    async def hold_blocker() -> None:
        url = server.database_url.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM customer WHERE tenant_id = $1 AND original_id = 'blocker'"
                    " FOR UPDATE",
                    blocker.id,
                )
                locked.set()
                await asyncio.to_thread(release.wait, 30)
        finally:
            await conn.close()

    with ThreadPoolExecutor(len(calls) + 2) as pool:
        holding = pool.submit(asyncio.run, hold_blocker())
        assert locked.wait(10)
        held = pool.submit(first)
        _until(lambda: function in batches)
        line = batches[function]
        _until(lambda: len(line._running) == 1 and not line._waiting)
        answers = [pool.submit(call) for call in calls]
        _until(lambda: len(line._waiting) == len(calls))
        release.set()
        holding.result()
        assert held.result().status_code == 200
        return [a.result() for a in answers]


def _timeless(answer: dict[str, Any]) -> Any:
    """`comparable`, its instants made alike too (`_alike`)."""
    return _alike(comparable(answer))


def _alike(value: Any) -> Any:
    """`value` with every instant (dates of movements, expiries, commits) the same: the two
    runs compared are a moment apart."""
    if isinstance(value, dict):
        return {k: _alike(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_alike(v) for v in value]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            datetime.fromisoformat(value)
            return "an instant"
    return value


class _CreditCases:
    def __init__(self, tenant: TenantHandle) -> None:
        self.tenant = tenant
        self.adds: list[Callable[[], httpx.Response]] = []
        self.customers: list[tuple[TenantHandle, str]] = []

    def add(self, tenant: TenantHandle, customer: str, points: int, **fields: Any) -> None:
        self.adds.append(lambda: add_points(tenant, customer, points, **fields))
        if customer != "nobody":
            self.customers.append((tenant, customer))


def _credit_cases(plain: TenantHandle, expiring: TenantHandle, server: Server) -> _CreditCases:
    """The adds of the test above, on two new tenants (the second's points expire), with the
    customers made ready for them."""
    cases = _CreditCases(plain)
    program = {"PointsExpireAfterDays": 30}
    assert expiring.http.put("/v1/admin/program", json=program).status_code == 200
    for tenant in (plain, expiring):
        upsert(tenant, "fresh")
        upsert(tenant, "known")
        assert add_points(tenant, "known", 5).status_code == 200
    upsert(plain, "off")
    disable = {"IsEnabled": False, "Reason": "fraude"}
    assert plain.http.post("/v1/pvt/Customer/off/changestatus", json=disable).status_code == 200
    upsert(plain, "owing")
    order = {
        "OriginalId": "order-1",
        "Customer": {"OriginalId": "owing"},
        "OrderTotal": "100.00",
        "IsCompleted": True,
        "OrderCompletedDate": server.clock().isoformat(),
    }
    assert plain.http.post("/v1/pvt/Order", json=order).status_code == 200
    assert add_points(plain, "owing", -70).status_code == 200
    assert plain.http.post("/v1/pvt/Order/order-1/cancel", json={}).status_code == 200
    assert points_of(plain, "owing")["PointsBalance"] == -70
    upsert(plain, "again")
    assert add_points(plain, "again", 7, ChangeKey="again-1").status_code == 200
    cases.add(plain, "fresh", 10, ChangeKey="k-fresh")
    cases.add(plain, "known", 20)
    cases.add(plain, "off", 30, ChangeKey="k-off")
    cases.add(plain, "owing", 40, ChangeKey="k-owing")
    cases.add(plain, "again", 7, ChangeKey="again-1")
    cases.add(plain, "nobody", 50, ChangeKey="k-nobody")
    cases.add(expiring, "fresh", 10, ChangeKey="k-fresh")
    cases.add(expiring, "known", 20)
    # Text and an instant as the batch's packed arguments carry them (`db.batches.pack`):
    # quotes, a backslash, accents and an emoji; microseconds at an offset.
    upsert(expiring, ODD_ID)
    cases.add(
        expiring,
        ODD_ID,
        15,
        ChangeKey=f"k-{ODD_TEXT}",
        Reason=ODD_TEXT,
        CustomerReason=ODD_TEXT,
        ExpirationDate="2031-05-04T10:20:30.123456-03:00",
    )
    return cases


ODD_ID = 'aspas"ç\\🎉'
ODD_TEXT = 'Olá "cliente" \\ \\" ç 🎉 {a,b} \'x\''


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "not reached in 10 s"
        time.sleep(0.01)


def _reserve(tenant: TenantHandle, path: str, body: dict[str, Any]) -> Any:
    answer = tenant.http.post(f"/v1/rewards/{path}", json=body, headers={"brand": tenant.slug})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_parallel_locks_and_commits_are_each_applied_once(tenant: TenantHandle) -> None:
    buyers = [f"{uuid.uuid4().hex[:8]}@example.com" for _ in range(4)]
    for buyer in buyers:
        upsert(tenant, buyer, Email=buyer)
        assert add_points(tenant, buyer, 1000).status_code == 200
    before = {f: _batched_items(tenant, f) for f in ("fidelis_lock_now", "fidelis_commit_lock_now")}
    # Three purchases of R$ 1 each per buyer (the program's default rule: all of it payable).
    purchases = [b for b in buyers for _ in range(3)]
    locks = _parallel(
        [
            lambda b=b: _reserve(tenant, "lock", {"customer_id": b, "total": "1.00"})
            for b in purchases
        ]
    )
    tokens = [lock["lock_token"] for lock in locks]
    assert len(set(tokens)) == len(purchases)
    # Each the same share of the same purchase, out of an ample balance.
    assert {lock["value"] for lock in locks} == {locks[0]["value"]}
    assert Decimal(locks[0]["value"]) > 0
    held = {}
    for buyer in buyers:
        points = points_of(tenant, buyer)
        held[buyer] = points["HeldPoints"]
        assert held[buyer] > 0
        assert points["PointsBalance"] + held[buyer] == 1000
    assert len(set(held.values())) == 1
    commits = _parallel([lambda t=t: _reserve(tenant, "commit", {"lock_token": t}) for t in tokens])
    assert {c["status"] for c in commits} == {"committed"}
    for buyer in buyers:
        points = points_of(tenant, buyer)
        assert (points["HeldPoints"], points["PointsBalance"]) == (0, 1000 - held[buyer])
    for function, (batches_before, items_before) in before.items():
        batches, items = _batched_items(tenant, function)
        assert items - items_before == len(purchases), function
        assert batches - batches_before < len(purchases), f"{function}: some went together"
