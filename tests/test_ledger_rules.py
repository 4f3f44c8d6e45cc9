"""The ledger's pure rules with worked numbers, then a worked example over HTTP.

`plan_consumption` (which lots a debit or hold takes, and how much of each), `project` (what
`settle` would write, computed without writing) and `Lot.is_available` are plain functions of
hand-built lots: no database. The stories at the end run the same rules on the real server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fidelis.ledger.model import Balances, Lot, LotStatus
from fidelis.ledger.service import plan_consumption, project, repayment
from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, run_jobs_once, upsert

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def make_lot(
    id: int,
    amount: int,
    *,
    remaining: int | None = None,
    held: int = 0,
    status: LotStatus = LotStatus.available,
    available_at: datetime = NOW - 10 * DAY,
    expires_at: datetime | None = None,
) -> Lot:
    return Lot(
        id=id,
        amount=amount,
        remaining=amount if remaining is None else remaining,
        held=held,
        status=status,
        available_at=available_at,
        expires_at=expires_at,
    )


class TestPlanConsumption:
    def test_takes_lots_in_the_order_given_whole_then_part(self) -> None:
        # The caller lists lots earliest expiry first, lots without expiry last.
        lots = [
            make_lot(1, 100, expires_at=NOW + 5 * DAY),
            make_lot(2, 100, expires_at=NOW + 10 * DAY),
            make_lot(3, 100),
        ]
        assert plan_consumption(lots, 150) == [(1, 100), (2, 50)]
        assert plan_consumption(lots, 300) == [(1, 100), (2, 100), (3, 100)]

    def test_order_is_the_callers_not_re_sorted(self) -> None:
        soon = make_lot(1, 100, expires_at=NOW + 5 * DAY)
        later = make_lot(2, 100, expires_at=NOW + 10 * DAY)
        assert plan_consumption([later, soon], 150) == [(2, 100), (1, 50)]

    def test_a_partly_used_lot_gives_only_what_remains(self) -> None:
        lots = [make_lot(1, 100, remaining=60), make_lot(2, 100)]
        assert plan_consumption(lots, 50) == [(1, 50)]
        assert plan_consumption(lots, 60) == [(1, 60)]
        assert plan_consumption(lots, 61) == [(1, 60), (2, 1)]

    def test_shortfall_is_none(self) -> None:
        lots = [make_lot(1, 100, remaining=60), make_lot(2, 100)]
        assert plan_consumption(lots, 160) == [(1, 60), (2, 100)]
        assert plan_consumption(lots, 161) is None
        assert plan_consumption([], 1) is None

    def test_held_points_are_not_spendable(self) -> None:
        lots = [
            make_lot(1, 100, held=70),  # 30 free
            make_lot(2, 40, held=40),  # all held: skipped
            make_lot(3, 50),
        ]
        assert lots[0].free == 30
        assert plan_consumption(lots, 60) == [(1, 30), (3, 30)]
        assert plan_consumption(lots, 80) == [(1, 30), (3, 50)]
        # 220 points remain in the lots, but only 80 are free.
        assert plan_consumption(lots, 81) is None

    def test_nothing_to_take(self) -> None:
        assert plan_consumption([make_lot(1, 100)], 0) == []


class TestRepayment:
    @pytest.mark.parametrize(
        ("owed", "freed", "parts"),
        [
            (0, [(1, 50)], []),
            (30, [(1, 50)], [(1, 30)]),
            (80, [(1, 50), (2, 50)], [(1, 50), (2, 30)]),
            (200, [(1, 50), (2, 50)], [(1, 50), (2, 50)]),
            (40, [(1, 0), (2, 50)], [(2, 40)]),
            (10, [], []),
        ],
    )
    def test_pays_what_is_owed_from_the_freed_points_in_order(
        self, owed: int, freed: list[tuple[int, int]], parts: list[tuple[int, int]]
    ) -> None:
        assert repayment(owed, freed) == parts


class TestIsAvailable:
    @pytest.mark.parametrize(
        ("lot", "available"),
        [
            (make_lot(1, 10), True),
            (make_lot(1, 10, expires_at=NOW + DAY), True),
            (make_lot(1, 10, expires_at=NOW - DAY), False),
            # Expiry is an instant: at it, the points are gone.
            (make_lot(1, 10, expires_at=NOW), False),
            (make_lot(1, 10, status=LotStatus.pending, available_at=NOW + DAY), False),
            # Pending lot whose waiting period is over: available before any job writes it down.
            (make_lot(1, 10, status=LotStatus.pending, available_at=NOW - DAY), True),
            (make_lot(1, 10, status=LotStatus.pending, available_at=NOW), True),
            # ...unless it has also expired meanwhile.
            (
                make_lot(
                    1,
                    10,
                    status=LotStatus.pending,
                    available_at=NOW - 2 * DAY,
                    expires_at=NOW - DAY,
                ),
                False,
            ),
            (make_lot(1, 10, remaining=5, held=5, status=LotStatus.expired), False),
        ],
    )
    def test_is_available(self, lot: Lot, available: bool) -> None:
        assert lot.is_available(NOW) is available


class TestProject:
    def test_nothing_due_changes_nothing(self) -> None:
        cached = Balances(available=150, pending=50, held=0)
        lots = [
            make_lot(1, 100, expires_at=NOW + DAY),
            make_lot(2, 50, status=LotStatus.pending, available_at=NOW + DAY),
        ]
        assert project(cached, lots, [], NOW).balances == cached

    def test_pending_lot_whose_time_came_counts_as_available(self) -> None:
        cached = Balances(available=100, pending=50, held=0)
        lots = [
            make_lot(1, 100),
            make_lot(2, 50, status=LotStatus.pending, available_at=NOW - timedelta(seconds=1)),
        ]
        assert project(cached, lots, [], NOW).balances == Balances(available=150, pending=0, held=0)

    def test_expired_lot_no_longer_counts(self) -> None:
        # 100 expiring yesterday (60 left after a debit) + 40 that never expire.
        cached = Balances(available=100, pending=0, held=0)
        lots = [make_lot(1, 100, remaining=60, expires_at=NOW - DAY), make_lot(2, 40)]
        assert project(cached, lots, [], NOW).balances == Balances(available=40, pending=0, held=0)

    def test_held_part_survives_expiry(self) -> None:
        # 100 points, 30 of them reserved by a lock: 70 available, 30 held.
        cached = Balances(available=70, pending=0, held=30)
        lots = [make_lot(1, 100, held=30, expires_at=NOW - DAY)]
        # The 70 free points expire; the 30 held stay held until the lock is resolved.
        assert project(cached, lots, [], NOW).balances == Balances(available=0, pending=0, held=30)

    def test_pending_lot_released_and_expired_in_one_go(self) -> None:
        cached = Balances(available=0, pending=50, held=0)
        lots = [
            make_lot(
                1,
                50,
                status=LotStatus.pending,
                available_at=NOW - 10 * DAY,
                expires_at=NOW - DAY,
            )
        ]
        assert project(cached, lots, [], NOW).balances == Balances(available=0, pending=0, held=0)

    def test_already_expired_lot_keeping_held_points_is_left_alone(self) -> None:
        cached = Balances(available=10, pending=0, held=20)
        lots = [
            make_lot(1, 50, remaining=20, held=20, status=LotStatus.expired, expires_at=NOW - DAY),
            make_lot(2, 10),
        ]
        assert project(cached, lots, [], NOW).balances == cached

    def test_an_expired_hold_gives_its_points_back(self) -> None:
        lot = make_lot(1, 100, held=30, expires_at=NOW + DAY)
        cached = Balances(available=70, pending=0, held=30)
        assert project(cached, [lot], [(lot, 30)], NOW).balances == Balances(
            available=100, pending=0, held=0
        )

    def test_an_expired_hold_on_an_expired_lot_gives_nothing_back(self) -> None:
        # 40 of the lot held, 60 free; the lot and the hold both ran out: all 100 are gone.
        lot = make_lot(1, 100, held=40, expires_at=NOW - DAY)
        cached = Balances(available=60, pending=0, held=40)
        assert project(cached, [lot], [(lot, 40)], NOW).balances == Balances(
            available=0, pending=0, held=0
        )

    def test_an_expired_hold_pays_off_debt_first_and_its_lot_shows_what_is_left(self) -> None:
        # Owes 50, all 80 points left locked; the lock ran out: 50 pay the debt, 30 to spend.
        lot = make_lot(1, 100, remaining=80, held=80, expires_at=NOW + DAY)
        other = make_lot(2, 10, status=LotStatus.pending, available_at=NOW + DAY)
        cached = Balances(available=0, pending=10, held=80, debt=-50)
        projected = project(cached, [lot, other], [(lot, 80)], NOW)
        assert projected.balances == Balances(available=30, pending=10, held=0, debt=0)
        assert [(x.id, x.remaining, x.held, x.free) for x in projected.lots] == [
            (1, 30, 0, 30),
            (2, 10, 0, 10),
        ]

    def test_a_released_lot_pays_off_debt_before_a_hold_gives_back(self) -> None:
        # As `settle` does: lots first (the release pays 30 of the 40 owed), then holds (10).
        released = make_lot(1, 30, status=LotStatus.pending, available_at=NOW - DAY)
        locked = make_lot(2, 50, held=50, expires_at=NOW + DAY)
        cached = Balances(available=0, pending=30, held=50, debt=-40)
        projected = project(cached, [released, locked], [(locked, 50)], NOW)
        assert projected.balances == Balances(available=40, pending=0, held=0, debt=0)
        assert [(x.id, x.status, x.free) for x in projected.lots] == [(2, LotStatus.available, 40)]

    def test_free_points_beside_a_debt_pay_it_off_unexpired_first_in_spending_order(
        self,
    ) -> None:
        # A ledger of before points paid debt as they came back: owes 60, 100 free (30 of them
        # past their expiry, which pay nothing).
        gone = make_lot(1, 30, expires_at=NOW - DAY)
        soon = make_lot(2, 50, expires_at=NOW + DAY)
        lasting = make_lot(3, 20)
        cached = Balances(available=100, pending=0, held=0, debt=-60)
        projected = project(cached, [gone, soon, lasting], [], NOW)
        assert projected.balances == Balances(available=10, pending=0, held=0, debt=0)
        assert [(x.id, x.free) for x in projected.lots] == [(3, 10)]

    def test_lots_that_run_out_leave_the_projection(self) -> None:
        gone = make_lot(1, 100, held=40, expires_at=NOW - DAY)
        kept = make_lot(2, 25, expires_at=NOW + DAY)
        cached = Balances(available=85, pending=0, held=40)
        projected = project(cached, [gone, kept], [(gone, 40)], NOW)
        assert projected.balances == Balances(available=25, pending=0, held=0)
        assert [x.id for x in projected.lots] == [2]

    def test_projection_agrees_with_is_available(self) -> None:
        lots = [
            make_lot(1, 100, remaining=80, held=20, expires_at=NOW - DAY),
            make_lot(2, 30, status=LotStatus.pending, available_at=NOW - DAY),
            make_lot(3, 40, status=LotStatus.pending, available_at=NOW + DAY),
            make_lot(4, 25, expires_at=NOW + DAY),
        ]
        cached = Balances(available=60 + 25, pending=30 + 40, held=20)
        projected = project(cached, lots, [], NOW).balances
        assert projected.available == sum(lot.free for lot in lots if lot.is_available(NOW))
        assert projected == Balances(available=55, pending=40, held=20)


# --- worked examples on the real server ------------------------------------------------------

CUSTOMER = "bruna@example.com"


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def test_welcome_points_expire_after_30_days(
    server: Server, clock: Clock, tenant: TenantHandle
) -> None:
    """500 welcome points expiring in 30 days, 120 lost in a correction; day 31: 0 left."""
    response = tenant.http.put("/v1/admin/program", json={"PointsExpireAfterDays": 30})
    assert response.status_code == 200, response.text
    upsert(tenant, CUSTOMER, Name="Bruna")

    before = server.clock()
    response = add_points(tenant, CUSTOMER, 500, CustomerReason="Pontos de boas-vindas")
    after = server.clock()
    assert response.status_code == 200, response.text
    points = points_of(tenant, CUSTOMER)
    assert points["PointsBalance"] == 500
    [expiring] = points["PointsToExpire"]
    assert expiring["Points"] == 500
    assert before + 30 * DAY <= parse(expiring["When"]) <= after + 30 * DAY

    response = add_points(tenant, CUSTOMER, -120, Reason="correção de lançamento duplicado")
    assert response.status_code == 200, response.text
    points = points_of(tenant, CUSTOMER)
    assert points["PointsBalance"] == 380
    assert [e["Points"] for e in points["PointsToExpire"]] == [380]

    clock.advance(days=31)
    # The balance is right at once, before anything is written down...
    points = points_of(tenant, CUSTOMER)
    assert points["PointsBalance"] == 0
    assert points["CashbackBalance"] == 0
    assert points["PointsToExpire"] == []

    # ...and once the job has settled the customer, the history tells the whole story.
    run_jobs_once(server)
    points = points_of(tenant, CUSTOMER)
    assert points["PointsBalance"] == 0
    history = [(i["PointType"], i["Points"]) for i in points["PointHistory"]]
    assert history == [(4, -380), (1, -120), (1, 500)]
    expiration = points["PointHistory"][0]
    assert expiration["PointTypeDescription"] == "Pontos expirados"
    assert expiration["CashbackValue"] == -3.8
    assert points["PointHistory"][2]["Title"] == "Pontos de boas-vindas"


def test_debits_take_the_earliest_expiry_first(server: Server, tenant: TenantHandle) -> None:
    upsert(tenant, CUSTOMER)
    now = server.clock()
    in_10_days = (now + 10 * DAY).isoformat()
    in_20_days = (now + 20 * DAY).isoformat()
    add_points(tenant, CUSTOMER, 100)  # never expires: spent last
    add_points(tenant, CUSTOMER, 100, ExpirationDate=in_20_days)
    add_points(tenant, CUSTOMER, 100, ExpirationDate=in_10_days)

    response = add_points(tenant, CUSTOMER, -150)
    assert response.status_code == 200, response.text

    points = points_of(tenant, CUSTOMER)
    assert points["PointsBalance"] == 150
    # The 10-day lot is gone, 50 of the 20-day lot are left, the lot without expiry is whole.
    assert [(e["Points"], parse(e["When"])) for e in points["PointsToExpire"]] == [
        (50, parse(in_20_days))
    ]
