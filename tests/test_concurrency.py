"""Concurrency: many real HTTP requests at once must leave the ledger as if they ran one by one.

Each test fires its requests from a pool of threads that wait on a barrier, so they reach the
server together, over one httpx client with enough connections for all of them. The ledger check
runs after every test (conftest), so a lost update or a half-applied change also fails there.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, add_points, points_of, upsert

Call = Callable[[httpx.Client], httpx.Response]


def parallel(
    tenant: TenantHandle, calls: list[Call], *, workers: int | None = None
) -> list[httpx.Response]:
    """Run the calls from `workers` threads (default: one per call), released together.

    Every thread waits on the barrier before its first call, so the first `workers` requests
    are in flight at once; answers come back in call order.
    """
    client = tenant.client(limits=httpx.Limits(max_connections=300, max_keepalive_connections=300))
    workers = workers or len(calls)
    barrier = threading.Barrier(min(workers, len(calls)))
    thread = threading.local()

    def run(call: Call) -> httpx.Response:
        if not getattr(thread, "started", False):
            thread.started = True
            barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, calls))


def points_change(customer: str, points: int, **fields: Any) -> Call:
    body = {"Points": points, "OperationType": 0 if points > 0 else 1, "Reason": "load", **fields}
    return lambda client: client.post(f"/v1/pvt/Customer/{customer}/points", json=body)


def cashback_change(customer: str, value: str, **fields: Any) -> Call:
    # The R$ value travels as a JSON number, the way store back-ends send it.
    body = {
        "Value": float(value),
        "OperationType": 0 if not value.startswith("-") else 1,
        "Reason": "load",
        **fields,
    }
    return lambda client: client.post(f"/v1/pvt/Customer/{customer}/cashback", json=body)


def full_history(tenant: TenantHandle, customer: str) -> list[dict[str, Any]]:
    """Every movement of the customer, newest first, read page by page."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        response = tenant.http.post(
            f"/v1/pvt/Customer/{customer}/history", params={"PageNumber": page, "PageSize": 50}
        )
        assert response.status_code == 200, response.text
        found = response.json()
        items += found["Items"]
        if not found["HasNextPage"]:
            assert len(items) == found["TotalItemCount"]
            return items
        page += 1


def statuses(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter((r.status_code, r.json().get("CodeName")) for r in responses)


def test_200_removals_of_10_from_1000_exactly_100_succeed(tenant: TenantHandle) -> None:
    upsert(tenant, "hot@example.com")
    assert add_points(tenant, "hot@example.com", 1000).status_code == 200

    responses = parallel(tenant, [points_change("hot@example.com", -10)] * 200)

    assert statuses(responses) == {(200, None): 100, (400, "InsufficientBalance"): 100}
    for response in responses:
        if response.status_code == 400:
            assert response.json()["Code"] == "17"
            assert response.json()["HasError"] is True
    seen = sorted(r.json()["Result"]["PointsBalance"] for r in responses if r.status_code == 200)
    # Run one at a time, the successes leave 990, 980, ..., 0 behind: each exactly once.
    assert seen == list(range(0, 1000, 10))
    assert points_of(tenant, "hot@example.com")["PointsBalance"] == 0
    history = full_history(tenant, "hot@example.com")
    assert sorted(item["Points"] for item in history) == [-10] * 100 + [1000]


def test_mixed_adds_and_removals_add_up_and_never_go_negative(tenant: TenantHandle) -> None:
    upsert(tenant, "mix@example.com")
    assert add_points(tenant, "mix@example.com", 12).status_code == 200
    # Removals outnumber adds, so some must meet an empty balance and be refused.
    calls = [
        points_change("mix@example.com", 7) if i % 3 == 0 else points_change("mix@example.com", -5)
        for i in range(120)
    ]

    responses = parallel(tenant, calls)

    effect = 12
    for call_index, response in enumerate(responses):
        adding = call_index % 3 == 0
        if response.status_code == 200:
            effect += 7 if adding else -5
            assert response.json()["Result"]["PointsBalance"] >= 0
        else:
            assert not adding, response.text
            assert (response.status_code, response.json()["CodeName"]) == (
                400,
                "InsufficientBalance",
            )
    final = points_of(tenant, "mix@example.com")["PointsBalance"]
    assert final == effect
    assert final >= 0
    # The history is one serial order: replayed oldest first, it never dips below zero.
    history = full_history(tenant, "mix@example.com")
    running = 0
    for item in reversed(history):
        running += item["Points"]
        assert running >= 0
    assert running == final
    successes = Counter(
        7 if i % 3 == 0 else -5 for i, r in enumerate(responses) if r.status_code == 200
    )
    assert Counter(item["Points"] for item in history) == successes + Counter({12: 1})


def test_50_identical_points_changes_with_one_change_key_apply_once(tenant: TenantHandle) -> None:
    upsert(tenant, "key@example.com")
    assert add_points(tenant, "key@example.com", 100).status_code == 200

    responses = parallel(tenant, [points_change("key@example.com", 25, ChangeKey="once")] * 50)

    assert statuses(responses) == {(200, None): 1, (409, "ChangeKeyAlreadyUsed"): 49}
    assert points_of(tenant, "key@example.com")["PointsBalance"] == 125
    for response in responses:
        answer = response.json()
        # A reused key still answers with the customer's current points, after the one change.
        assert answer["Result"]["PointsBalance"] == 125
        if response.status_code == 409:
            assert (answer["Code"], answer["ErrorCode"], answer["HasError"]) == ("20", 20, True)
    assert len(full_history(tenant, "key@example.com")) == 2


def test_50_identical_cashback_changes_with_one_change_key_apply_once(
    tenant: TenantHandle,
) -> None:
    upsert(tenant, "cash@example.com")

    responses = parallel(
        tenant, [cashback_change("cash@example.com", "12.34", ChangeKey="c1")] * 50
    )

    assert statuses(responses) == {(200, None): 1, (409, "ChangeKeyAlreadyUsed"): 49}
    points = points_of(tenant, "cash@example.com")
    assert (points["PointsBalance"], points["CashbackBalance"]) == (1234, 12.34)
    for response in responses:
        assert response.json()["Result"]["PointsBalance"] == 1234
    assert len(full_history(tenant, "cash@example.com")) == 1


def test_one_change_key_over_three_customers_applies_once_in_total(tenant: TenantHandle) -> None:
    customers = ["a@example.com", "b@example.com", "c@example.com"]
    for customer in customers:
        upsert(tenant, customer)
    calls = [points_change(customers[i % 3], 40, ChangeKey="shared-key") for i in range(30)]

    responses = parallel(tenant, calls)

    assert statuses(responses) == {(200, None): 1, (409, "ChangeKeyAlreadyUsed"): 29}
    balances = [points_of(tenant, customer)["PointsBalance"] for customer in customers]
    assert sorted(balances) == [0, 0, 40]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    assert points_of(tenant, customers[winner % 3])["PointsBalance"] == 40
    # Each refusal answers with the points of the customer it named, as they are now.
    for i, response in enumerate(responses):
        assert response.json()["Result"]["PointsBalance"] == balances[i % 3]


def test_one_change_key_over_points_and_cashback_applies_once(tenant: TenantHandle) -> None:
    # Points and cashback changes share one ChangeKey namespace per tenant.
    upsert(tenant, "both@example.com")
    calls = [
        points_change("both@example.com", 10, ChangeKey="either")
        if i % 2
        else cashback_change("both@example.com", "0.25", ChangeKey="either")
        for i in range(40)
    ]

    responses = parallel(tenant, calls)

    assert statuses(responses) == {(200, None): 1, (409, "ChangeKeyAlreadyUsed"): 39}
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    expected = 10 if winner % 2 else 25
    assert points_of(tenant, "both@example.com")["PointsBalance"] == expected
    assert len(full_history(tenant, "both@example.com")) == 1


def cpf(base: int) -> str:
    """A valid CPF (11 digits with both check digits) built from a 9-digit number."""
    digits = [int(d) for d in f"{base:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


@pytest.mark.parametrize("with_email_and_document", [False, True])
def test_40_concurrent_upserts_of_one_original_id_make_one_customer(
    tenant: TenantHandle, with_email_and_document: bool
) -> None:
    # The race window is narrow, so a few fresh customers are each created by 40 requests.
    for round_number in range(4):
        original_id = f"same{round_number}@example.com"
        fields: dict[str, str] = {}
        if with_email_and_document:
            # The e-mail and document are the customer's own: a concurrent creator of the same
            # OriginalId must not make them look "already used by another customer".
            fields = {"Email": original_id.upper(), "Document": cpf(529982247 + round_number)}

        def upsert_call(
            i: int, original_id: str = original_id, fields: dict[str, str] = fields
        ) -> Call:
            body = {"OriginalId": original_id, "Name": f"Name {i}", **fields}
            return lambda client: client.post("/v1/pvt/Customer/upsert", json=body)

        responses = parallel(tenant, [upsert_call(i) for i in range(40)])

        outcomes = Counter(
            (r.status_code, r.json()["Result"]["Operation"] if r.status_code == 200 else r.text)
            for r in responses
        )
        assert outcomes == {(200, "created"): 1, (200, "updated"): 39}, original_id
        assert len({r.json()["Result"]["InternalId"] for r in responses}) == 1
        found = tenant.http.get(f"/v1/pvt/Customer/{original_id}").json()["Result"]
        assert found["InternalId"] == responses[0].json()["Result"]["InternalId"]
        assert found["Name"] in {f"Name {i}" for i in range(40)}
        if with_email_and_document:
            by_document = tenant.http.get(f"/v1/pvt/Customer/{fields['Document']}").json()
            assert by_document["Result"]["InternalId"] == found["InternalId"]
            assert found["Email"] == fields["Email"]


def test_concurrent_adds_on_20_customers_all_succeed(tenant: TenantHandle) -> None:
    customers = [f"c{n}@example.com" for n in range(20)]
    for customer in customers:
        upsert(tenant, customer)
    # Round-robin, so every customer has several requests in flight at any moment.
    calls = [
        points_change(customer, 3 + n, ChangeKey=f"{customer}-{i}")
        for i in range(10)
        for n, customer in enumerate(customers)
    ]

    # 100 in flight is plenty to interleave every customer's writes. With all 200 at once the
    # in-process server queues requests for its pooled connections, and on a busy CI machine
    # some waits exceed the pool's 5 s timeout: an overload answer, not a ledger question.
    responses = parallel(tenant, calls, workers=100)

    assert all(r.status_code == 200 for r in responses), statuses(responses)
    for n, customer in enumerate(customers):
        assert points_of(tenant, customer)["PointsBalance"] == 10 * (3 + n)
