"""Property-based tests: random sequences of points and cashback changes against a tiny model.

The model is what the Private API promises for manual changes (api-pvt.md): a balance that is an
integer number of points; an add always applies; a removal applies only when it does not exceed
the balance; a `ChangeKey` that was already used by an applied change is a 409 and changes
nothing, whatever the request; a refused change leaves its key unused. Cashback is points at the
default `PointValue` 0.01, so R$ with two decimals are centavos.

Hypothesis drives a state machine against the live server. Tenants are per test function, so the
machine gets its tenant through a class attribute and every example starts a fresh customer
(and a fresh pool of keys, since keys are per tenant) inside that tenant.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import Server, TenantHandle, check_ledger, points_of, upsert

KEY_POOL = 4
amounts = st.integers(min_value=1, max_value=5_000)
keys = st.none() | st.integers(min_value=0, max_value=KEY_POOL - 1)


class PointsMachine(RuleBasedStateMachine):
    tenant: ClassVar[TenantHandle]
    server: ClassVar[Server]

    def __init__(self) -> None:
        super().__init__()
        self.customer = f"prop-{uuid.uuid4().hex}@example.com"
        self.balance = 0
        self.used_keys: set[str] = set()
        self.movements: list[int] = []

    @initialize()
    def create_customer(self) -> None:
        created = upsert(self.tenant, self.customer, Name="Propriedade")
        assert created["Operation"] == "created"

    # --- the requests -------------------------------------------------------------------------

    def key(self, index: int | None) -> str | None:
        # Keys are per tenant and the tenant outlives the example: scope them to the customer.
        return None if index is None else f"{self.customer}#k{index}"

    def send(self, endpoint: str, body: dict[str, Any], key: str | None) -> httpx.Response:
        if key is not None:
            body = {**body, "ChangeKey": key}
        return self.tenant.http.post(
            f"/v1/pvt/Customer/{self.customer}/{endpoint}", json={"Reason": "property", **body}
        )

    def expect(self, response: httpx.Response, points: int, key: str | None) -> None:
        """Check the answer to a well-formed change of `points` and advance the model."""
        answer = response.json()
        if key is not None and key in self.used_keys:
            assert (response.status_code, answer["CodeName"]) == (409, "ChangeKeyAlreadyUsed")
            assert answer["Result"]["PointsBalance"] == self.balance
            return
        if points < 0 and -points > self.balance:
            assert (response.status_code, answer["CodeName"]) == (400, "InsufficientBalance")
            return
        assert response.status_code == 200, response.text
        self.balance += points
        self.movements.append(points)
        if key is not None:
            self.used_keys.add(key)
        assert answer["Result"]["PointsBalance"] == self.balance
        assert answer["Result"]["PointHistory"][0]["Points"] == points

    def expect_refused(self, response: httpx.Response, code_name: str) -> None:
        # Malformed changes are refused before the key is looked at: even a used key gives 400.
        assert (response.status_code, response.json()["CodeName"]) == (400, code_name)

    @rule(points=amounts, key=keys)
    def add_points(self, points: int, key: int | None) -> None:
        change_key = self.key(key)
        response = self.send("points", {"Points": points, "OperationType": 0}, change_key)
        self.expect(response, points, change_key)

    @rule(points=amounts, key=keys)
    def remove_points(self, points: int, key: int | None) -> None:
        change_key = self.key(key)
        response = self.send("points", {"Points": -points, "OperationType": 1}, change_key)
        self.expect(response, -points, change_key)

    @rule(cents=amounts, key=keys, as_text=st.booleans())
    def add_cashback(self, cents: int, key: int | None, as_text: bool) -> None:
        change_key = self.key(key)
        value = Decimal(cents) / 100
        body = {"Value": str(value) if as_text else float(value), "OperationType": 0}
        self.expect(self.send("cashback", body, change_key), cents, change_key)

    @rule(cents=amounts, key=keys, as_text=st.booleans())
    def remove_cashback(self, cents: int, key: int | None, as_text: bool) -> None:
        change_key = self.key(key)
        value = -Decimal(cents) / 100
        body = {"Value": str(value) if as_text else float(value), "OperationType": 1}
        self.expect(self.send("cashback", body, change_key), -cents, change_key)

    @rule(points=amounts, key=keys, remove=st.booleans())
    def points_with_the_wrong_sign(self, points: int, key: int | None, remove: bool) -> None:
        body = {"Points": points if remove else -points, "OperationType": int(remove)}
        self.expect_refused(self.send("points", body, self.key(key)), "OperationTypeMismatch")

    @rule(key=keys)
    def zero_points(self, key: int | None) -> None:
        body = {"Points": 0, "OperationType": 0}
        self.expect_refused(self.send("points", body, self.key(key)), "PointsCannotBeZero")

    @rule(mills=st.integers(min_value=1, max_value=99_999).filter(lambda m: m % 10), key=keys)
    def cashback_with_three_decimals(self, mills: int, key: int | None) -> None:
        # R$ x.yyz is not a whole number of centavos: refused, never rounded.
        body = {"Value": str(Decimal(mills) / 1000), "OperationType": 0}
        self.expect_refused(self.send("cashback", body, self.key(key)), "InvalidValue")

    # --- after every step ---------------------------------------------------------------------

    @invariant()
    def balance_matches_the_model(self) -> None:
        points = points_of(self.tenant, self.customer)
        assert points["CustomerExists"] is True
        assert points["PointsBalance"] == self.balance
        assert points["CashbackBalance"] == float(Decimal(self.balance) / 100)
        assert (points["PendingPoints"], points["HeldPoints"]) == (0, 0)

    @invariant()
    def ledger_is_sound(self) -> None:
        assert check_ledger(self.server.database_url, [self.tenant.id]) == []

    def teardown(self) -> None:
        response = self.tenant.http.post(
            f"/v1/pvt/Customer/{self.customer}/history", params={"PageSize": 50}
        )
        assert response.status_code == 200, response.text
        history = response.json()
        # Exactly the applied changes were recorded, newest first; refused ones left no trace.
        assert history["TotalItemCount"] == len(self.movements)
        assert [item["Points"] for item in history["Items"]] == self.movements[::-1][:50]


def test_random_points_and_cashback_changes_follow_the_model(
    server: Server, tenant: TenantHandle
) -> None:
    PointsMachine.tenant = tenant
    PointsMachine.server = server
    run_state_machine_as_test(
        PointsMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


class LockMachine(RuleBasedStateMachine):
    """Random interleavings of locks, commits, rollbacks, expiry, orders, their cancels, till
    redemptions, theirs, and points changes.

    Model: `available` free points and `debt` owed points (the balance is their difference);
    each lock holds `min(available, total in centavos)` (the default rule: up to 100% of the
    purchase, 1 point = R$ 0.01) and is active until committed (the unused part comes back),
    rolled back or expired (all of it comes back). A completed order earns a point per whole
    R$; its cancel takes its points back from the free ones, and what they cannot cover (spent
    or held) becomes debt. A till redemption spends a reward's cost (refused to a customer in
    debt, or without the points); its cancel gives the cost back once. Points that come back,
    whatever way, pay off debt first. Expiry is driven by moving the server's clock two lock
    lifetimes ahead, so no lock is ever near its boundary.
    """

    COSTS = (40, 700)

    tenant: ClassVar[TenantHandle]
    server: ClassVar[Server]
    TTL = 60

    def __init__(self) -> None:
        super().__init__()
        self.customer = f"lock-{uuid.uuid4().hex}@example.com"
        self.available = 0
        self.debt = 0
        # token -> [points held, committed points or None, state]
        self.locks: dict[str, list[Any]] = {}
        self.tokens: list[str] = []
        self.orders: list[tuple[str, int]] = []  # (order id, points earned) not yet cancelled
        self.rewards: list[int] = []  # a reward of each cost in COSTS
        self.redemptions: list[list[Any]] = []  # [redemption id, cost, cancelled]

    def come_back(self, points: int) -> None:
        repaid = min(self.debt, points)
        self.debt -= repaid
        self.available += points - repaid

    @initialize()
    def create_customer(self) -> None:
        upsert(self.tenant, self.customer)
        for cost in self.COSTS:
            body = {"Title": f"{cost} points", "RewardType": 1, "Value": 5, "Points": cost}
            response = self.tenant.http.post("/v1/admin/rewards", json=body)
            assert response.status_code == 200, response.text
            self.rewards.append(response.json()["Result"]["Id"])

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.tenant.http.post(
            f"/v1/rewards/{path}", json=body, headers={"brand": self.tenant.slug}
        )

    def pick(self, index: int) -> str | None:
        return self.tokens[index % len(self.tokens)] if self.tokens else None

    @rule(points=amounts)
    def add_points(self, points: int) -> None:
        response = self.tenant.http.post(
            f"/v1/pvt/Customer/{self.customer}/points",
            json={"Points": points, "OperationType": 0, "Reason": "property"},
        )
        assert response.status_code == 200, response.text
        self.come_back(points)

    @rule(points=amounts)
    def remove_points(self, points: int) -> None:
        response = self.tenant.http.post(
            f"/v1/pvt/Customer/{self.customer}/points",
            json={"Points": -points, "OperationType": 1, "Reason": "property"},
        )
        if points > self.available - self.debt:
            assert response.json()["CodeName"] == "InsufficientBalance"
            return
        assert response.status_code == 200, response.text
        self.available -= points

    @rule(reais=amounts)
    def order(self, reais: int) -> None:
        order_id = f"order-{uuid.uuid4().hex}"
        body = {
            "OriginalId": order_id,
            "Customer": {"OriginalId": self.customer},
            "OrderTotal": f"{reais}.00",
            "IsCompleted": True,
            "OrderCompletedDate": self.server.clock().isoformat(),
        }
        response = self.tenant.http.post("/v1/pvt/Order", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["Result"]["EarnedPoints"] == reais
        self.orders.append((order_id, reais))
        self.come_back(reais)

    @precondition(lambda self: self.orders)
    @rule(index=st.integers(min_value=0, max_value=20))
    def cancel_order(self, index: int) -> None:
        order_id, earned = self.orders.pop(index % len(self.orders))
        response = self.tenant.http.post(f"/v1/pvt/Order/{order_id}/cancel", json={})
        assert response.status_code == 200, response.text
        taken = min(self.available, earned)
        self.available -= taken
        self.debt += earned - taken

    @rule(which=st.integers(min_value=0, max_value=1))
    def redeem(self, which: int) -> None:
        cost = self.COSTS[which]
        response = self.tenant.http.post(
            f"/v1/pvt/POS/rewards/{self.rewards[which]}/redeem",
            json={"CustomerId": self.customer},
        )
        answer = response.json()
        if self.debt:
            assert (response.status_code, answer["CodeName"]) == (400, "CustomerInDebt")
        elif cost > self.available:
            assert (response.status_code, answer["CodeName"]) == (400, "NotEnoughPoints")
        else:
            assert response.status_code == 200, response.text
            self.available -= cost
            self.redemptions.append([answer["Result"]["RewardId"], cost, False])

    @precondition(lambda self: self.redemptions)
    @rule(index=st.integers(min_value=0, max_value=20))
    def cancel_redemption(self, index: int) -> None:
        redemption = self.redemptions[index % len(self.redemptions)]
        response = self.tenant.http.delete(f"/v1/pvt/POS/rewards/{redemption[0]}")
        assert response.status_code == 200, response.text
        if redemption[2]:
            assert response.json()["CodeName"] == "RedeemAlreadyCanceled"
            return
        redemption[2] = True
        self.come_back(redemption[1])

    @rule(cents=st.integers(min_value=1, max_value=8_000))
    def lock(self, cents: int) -> None:
        total = str(Decimal(cents) / 100)
        answer = self.post("lock", {"customer_id": self.customer, "total": total}).json()
        expected = min(self.available, cents)
        assert Decimal(answer["value"]) * 100 == expected
        if expected == 0:
            assert answer["lock_token"] is None
            return
        self.available -= expected
        self.locks[answer["lock_token"]] = [expected, None, "active"]
        self.tokens.append(answer["lock_token"])

    @rule(index=st.integers(min_value=0, max_value=20), part=st.integers(0, 120))
    def commit(self, index: int, part: int) -> None:
        token = self.pick(index)
        if token is None:
            return
        held, committed, state = self.locks[token]
        value = None if part == 0 else max(1, held * part // 100)
        body: dict[str, Any] = {"lock_token": token}
        if value is not None:
            body["value"] = str(Decimal(value) / 100)
        response = self.post("commit", body)
        if state == "committed":
            assert response.status_code == 200
            assert Decimal(response.json()["value"]) * 100 == committed
        elif state == "rolled_back":
            assert response.json()["error"]["code"] == "LOCK_ROLLED_BACK"
        elif state == "expired":
            assert response.json()["error"]["code"] == "LOCK_EXPIRED"
        elif value is not None and value > held:
            assert response.json()["error"]["code"] == "VALUE_EXCEEDS_LOCK"
        else:
            assert response.status_code == 200, response.text
            spent = held if value is None else value
            self.come_back(held - spent)
            self.locks[token] = [held, spent, "committed"]

    @rule(index=st.integers(min_value=0, max_value=20))
    def rollback(self, index: int) -> None:
        token = self.pick(index)
        if token is None:
            return
        held, _, state = self.locks[token]
        response = self.post("rollback", {"lock_token": token})
        if state == "committed":
            assert response.json()["error"]["code"] == "LOCK_ALREADY_COMMITTED"
            return
        assert response.status_code == 200, response.text
        if state == "active":
            self.come_back(held)
            self.locks[token] = [held, None, "rolled_back"]
        assert response.json()["status"] == self.locks[token][2]

    @rule()
    def time_passes(self) -> None:
        self.server.clock.advance(seconds=2 * self.TTL)
        for state in self.locks.values():
            if state[2] == "active":
                self.come_back(state[0])
                state[2] = "expired"

    @invariant()
    def balances_match_the_model(self) -> None:
        points = points_of(self.tenant, self.customer)
        held = sum(s[0] for s in self.locks.values() if s[2] == "active")
        assert (points["PointsBalance"], points["HeldPoints"]) == (self.available - self.debt, held)

    @invariant()
    def ledger_is_sound(self) -> None:
        assert check_ledger(self.server.database_url, [self.tenant.id]) == []


def test_random_locks_commits_rollbacks_expiry_and_order_cancels_follow_the_model(
    server: Server, tenant: TenantHandle
) -> None:
    response = tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": LockMachine.TTL})
    assert response.status_code == 200, response.text
    LockMachine.tenant = tenant
    LockMachine.server = server
    run_state_machine_as_test(
        LockMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
