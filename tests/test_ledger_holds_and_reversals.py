"""Worked examples for holds (reserve → capture | release) and reversals, on the real database.

No endpoint of the foundation exposes these yet (checkout cashback, cashback locks, order
cancels and redemption cancels build on them), so the stories call the ledger the way those
services will: lock the customer, then move points, all in one write transaction. What the
customer sees is read back over HTTP. The ledger check runs after every test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.db.engine import Database
from fidelis.errors import (
    HoldNotActive,
    InsufficientBalance,
    InvalidValue,
    TransferAlreadyReversed,
)
from fidelis.ledger import service as ledger
from fidelis.ledger.model import Hold, HoldStatus, PointType
from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, run_async, upsert

T = TypeVar("T")

CUSTOMER = "maria@example.com"


def in_transaction(
    server: Server,
    tenant: TenantHandle,
    work: Callable[[AsyncConnection, int], Awaitable[T]],
) -> T:
    """Lock the customer (settling what is due) and run `work` in one write transaction."""

    async def run(db: Database) -> T:
        async with db.write() as conn:
            found = await customer_service.lock(conn, tenant.id, CUSTOMER, now=server.clock())
            return await work(conn, found.id)

    return run_async(server.database_url, run)


def hold(
    server: Server, tenant: TenantHandle, amount: int, expires_in: timedelta | None = None
) -> Hold:
    return in_transaction(
        server,
        tenant,
        lambda conn, customer_id: ledger.hold(
            conn,
            tenant_id=tenant.id,
            customer_id=customer_id,
            amount=amount,
            purpose="lock",
            now=server.clock(),
            expires_at=None if expires_in is None else server.clock() + expires_in,
        ),
    )


def status_of(server: Server, tenant: TenantHandle, hold_id: int) -> HoldStatus:
    async def read(db: Database) -> HoldStatus:
        async with db.read() as conn:
            found = await ledger.get_hold(conn, tenant_id=tenant.id, hold_id=hold_id)
        assert found is not None
        return found.status

    return run_async(server.database_url, read)


def capture(server: Server, tenant: TenantHandle, hold_id: int, amount: int | None = None) -> Any:
    return in_transaction(
        server,
        tenant,
        lambda conn, _: ledger.capture(
            conn, tenant_id=tenant.id, hold_id=hold_id, amount=amount, now=server.clock()
        ),
    )


def release(server: Server, tenant: TenantHandle, hold_id: int) -> Any:
    return in_transaction(
        server,
        tenant,
        lambda conn, _: ledger.release(
            conn, tenant_id=tenant.id, hold_id=hold_id, now=server.clock()
        ),
    )


def reverse(server: Server, tenant: TenantHandle, transfer_id: int) -> Any:
    return in_transaction(
        server,
        tenant,
        lambda conn, _: ledger.reverse(
            conn, tenant_id=tenant.id, transfer_id=transfer_id, now=server.clock()
        ),
    )


def balances(tenant: TenantHandle) -> tuple[int, int, int]:
    points = points_of(tenant, CUSTOMER)
    return points["PointsBalance"], points["PendingPoints"], points["HeldPoints"]


def newest_movement_id(tenant: TenantHandle) -> int:
    movement_id: int = points_of(tenant, CUSTOMER)["PointHistory"][0]["Id"]
    return movement_id


@pytest.fixture
def maria(tenant: TenantHandle) -> TenantHandle:
    upsert(tenant, CUSTOMER, Name="Maria")
    return tenant


class TestHold:
    def test_earn_500_hold_200_capture_leaves_300(
        self, server: Server, maria: TenantHandle
    ) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200)
        assert balances(maria) == (300, 0, 200)

        capture(server, maria, reserved.id)

        assert balances(maria) == (300, 0, 0)
        spent = points_of(maria, CUSTOMER)["PointHistory"][0]
        assert (spent["Points"], spent["PointType"]) == (-200, PointType.CashbackUsed)

    def test_partial_capture_gives_the_rest_back(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200)
        capture(server, maria, reserved.id, amount=150)
        assert balances(maria) == (350, 0, 0)

    def test_release_gives_everything_back(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200)
        release(server, maria, reserved.id)
        assert balances(maria) == (500, 0, 0)

    def test_holds_never_exceed_the_balance(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        hold(server, maria, 300)
        with pytest.raises(InsufficientBalance):
            hold(server, maria, 300)
        assert balances(maria) == (200, 0, 300)

    def test_held_points_cannot_be_removed(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        hold(server, maria, 300)
        response = add_points(maria, CUSTOMER, -250)
        assert response.json()["CodeName"] == "InsufficientBalance"
        assert balances(maria) == (200, 0, 300)

    def test_a_hold_resolves_once(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200)
        capture(server, maria, reserved.id)
        with pytest.raises(HoldNotActive):
            release(server, maria, reserved.id)
        with pytest.raises(HoldNotActive):
            capture(server, maria, reserved.id)
        assert balances(maria) == (300, 0, 0)

    def test_cannot_capture_more_than_held(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200)
        with pytest.raises(InvalidValue):
            capture(server, maria, reserved.id, amount=201)
        assert balances(maria) == (300, 0, 200)

    def test_hold_takes_the_soonest_expiring_points(
        self, server: Server, maria: TenantHandle
    ) -> None:
        soon = (server.clock() + timedelta(days=5)).isoformat()
        later = (server.clock() + timedelta(days=10)).isoformat()
        add_points(maria, CUSTOMER, 100, ExpirationDate=later)
        add_points(maria, CUSTOMER, 100, ExpirationDate=soon)
        hold(server, maria, 150)
        to_expire = points_of(maria, CUSTOMER)["PointsToExpire"]
        # Held points are not counted as "about to expire": only the 50 left of the later lot.
        assert [entry["Points"] for entry in to_expire] == [50]


class TestHoldAndExpiry:
    def test_held_points_outlive_their_lot_until_released(
        self, server: Server, clock: Clock, maria: TenantHandle
    ) -> None:
        tomorrow = (server.clock() + timedelta(days=1)).isoformat()
        add_points(maria, CUSTOMER, 100, ExpirationDate=tomorrow)
        reserved = hold(server, maria, 80)

        clock.advance(days=2)
        # The 20 free points expired at once; the 80 stay reserved.
        assert balances(maria) == (0, 0, 80)

        release(server, maria, reserved.id)
        assert balances(maria) == (0, 0, 0)
        newest = points_of(maria, CUSTOMER)["PointHistory"][0]
        assert (newest["Points"], newest["PointType"]) == (-80, PointType.Expiration)

    def test_held_points_of_an_expired_lot_can_still_be_spent(
        self, server: Server, clock: Clock, maria: TenantHandle
    ) -> None:
        tomorrow = (server.clock() + timedelta(days=1)).isoformat()
        add_points(maria, CUSTOMER, 100, ExpirationDate=tomorrow)
        reserved = hold(server, maria, 80)
        clock.advance(days=2)
        capture(server, maria, reserved.id)
        assert balances(maria) == (0, 0, 0)

    def test_status_is_recorded(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 100)
        reserved = hold(server, maria, 10)
        release(server, maria, reserved.id)
        assert status_of(server, maria, reserved.id) == HoldStatus.released

    def test_a_hold_that_runs_out_frees_its_points_for_every_reader_at_once(
        self, server: Server, clock: Clock, maria: TenantHandle
    ) -> None:
        add_points(maria, CUSTOMER, 500)
        reserved = hold(server, maria, 200, expires_in=timedelta(minutes=15))
        lasting = hold(server, maria, 100)
        assert balances(maria) == (200, 0, 300)
        clock.advance(minutes=16)
        # Nothing written yet, and already free.
        assert balances(maria) == (400, 0, 100)
        assert status_of(server, maria, reserved.id) == HoldStatus.active
        # A writer settles first: the hold is expired and cannot be captured any more (that
        # failed write rolls back, settling included)...
        with pytest.raises(HoldNotActive):
            capture(server, maria, reserved.id)
        # ...and the next writer that succeeds writes the expiry down.
        add_points(maria, CUSTOMER, 1)
        assert status_of(server, maria, reserved.id) == HoldStatus.expired
        assert balances(maria) == (401, 0, 100)
        capture(server, maria, lasting.id)
        assert balances(maria) == (401, 0, 0)

    def test_a_hold_and_its_lot_running_out_together_leave_nothing(
        self, server: Server, clock: Clock, maria: TenantHandle
    ) -> None:
        tomorrow = (server.clock() + timedelta(days=1)).isoformat()
        add_points(maria, CUSTOMER, 100, ExpirationDate=tomorrow)
        add_points(maria, CUSTOMER, 50)
        hold(server, maria, 80, expires_in=timedelta(hours=30))
        clock.advance(days=2)
        assert balances(maria) == (50, 0, 0)
        add_points(maria, CUSTOMER, 1)  # a write settles: same numbers, now written down
        assert balances(maria) == (51, 0, 0)


class TestReverse:
    def test_a_removal_goes_back_to_the_lots_it_came_from(
        self, server: Server, maria: TenantHandle
    ) -> None:
        in_ten_days = server.clock() + timedelta(days=10)
        add_points(maria, CUSTOMER, 100, ExpirationDate=in_ten_days.isoformat())
        add_points(maria, CUSTOMER, 100)
        add_points(maria, CUSTOMER, -150)
        assert points_of(maria, CUSTOMER)["PointsToExpire"] == []

        reverse(server, maria, newest_movement_id(maria))

        points = points_of(maria, CUSTOMER)
        assert points["PointsBalance"] == 200
        assert [e["Points"] for e in points["PointsToExpire"]] == [100]
        newest, removal = points["PointHistory"][0], points["PointHistory"][1]
        assert newest["Points"] == 150
        assert removal["IsCanceled"] is True

    def test_points_given_back_to_an_expired_lot_expire_at_once(
        self, server: Server, clock: Clock, maria: TenantHandle
    ) -> None:
        tomorrow = (server.clock() + timedelta(days=1)).isoformat()
        add_points(maria, CUSTOMER, 100, ExpirationDate=tomorrow)
        add_points(maria, CUSTOMER, -60)
        removal_id = newest_movement_id(maria)
        clock.advance(days=2)

        reverse(server, maria, removal_id)

        points = points_of(maria, CUSTOMER)
        assert points["PointsBalance"] == 0
        assert [(h["Points"], h["PointType"]) for h in points["PointHistory"][:2]] == [
            (-60, PointType.Expiration),
            (60, PointType.Adjustment),
        ]

    def test_a_credit_is_taken_back(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 100)
        add_points(maria, CUSTOMER, 40)
        reverse(server, maria, newest_movement_id(maria))
        assert balances(maria) == (100, 0, 0)

    def test_a_transfer_is_reversed_at_most_once(self, server: Server, maria: TenantHandle) -> None:
        add_points(maria, CUSTOMER, 100)
        credit_id = newest_movement_id(maria)
        reverse(server, maria, credit_id)
        with pytest.raises(TransferAlreadyReversed):
            reverse(server, maria, credit_id)
        assert balances(maria) == (0, 0, 0)

    def test_spent_credit_cannot_be_taken_back_without_debt(
        self, server: Server, maria: TenantHandle
    ) -> None:
        add_points(maria, CUSTOMER, 100)
        credit_id = newest_movement_id(maria)
        add_points(maria, CUSTOMER, -70)
        with pytest.raises(InsufficientBalance):
            reverse(server, maria, credit_id)
        assert balances(maria) == (30, 0, 0)
