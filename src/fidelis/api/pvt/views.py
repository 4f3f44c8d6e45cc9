"""Domain results rendered in the Private API's shapes (PascalCase, UTC dates, R$ numbers)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fidelis.customer.repository import Customer
from fidelis.customer.service import PointsSummary
from fidelis.kit.clock import iso_utc
from fidelis.kit.money import to_money
from fidelis.ledger.model import POINT_TYPE_DESCRIPTIONS, Balances, HistoryItem, PointType
from fidelis.order.service import Outcome
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption.offer import Offer
from fidelis.redemption.repository import Redemption
from fidelis.redemption.service import Offers
from fidelis.reward import service as reward_service
from fidelis.reward.repository import Reward
from fidelis.reward.service import RewardType


def cashback(points: int, program: ProgramSettings) -> Decimal:
    return to_money(points, program.PointValue) if program.CashbackEnabled else Decimal(0)


def customer_model(
    customer: Customer, balances: Balances, program: ProgramSettings
) -> dict[str, Any]:
    return {
        "OriginalId": customer.original_id,
        "InternalId": str(customer.id),
        "Name": customer.name,
        "Email": customer.email,
        "Phone": customer.phone,
        "BirthdayDate": iso_utc(customer.birthday_date),
        "SignupDate": iso_utc(customer.signup_date),
        "Document": customer.document,
        "IsEnrolled": customer.is_enrolled,
        "IsEnabled": customer.is_enabled,
        "BalanceOfPoints": balances.spendable,
        "BalanceCashback": cashback(balances.spendable, program),
    }


def history_item(item: HistoryItem, program: ProgramSettings) -> dict[str, Any]:
    point_type = item.point_type
    return {
        "Id": item.id,
        "Date": iso_utc(item.created_at),
        "Points": item.points,
        "CashbackValue": to_money(item.points, program.PointValue),
        "PointType": int(point_type) if point_type is not None else None,
        "PointTypeDescription": POINT_TYPE_DESCRIPTIONS.get(point_type) if point_type else None,
        "Title": title(item, program),
        "ExpirationDate": iso_utc(item.expires_at),
        "IsCanceled": item.is_canceled,
        "OrderId": item.order_ref,
        "RewardId": item.reward_id,
        "BranchId": item.branch_id,
        "BranchName": item.branch_name,
    }


def title(item: HistoryItem, program: ProgramSettings) -> str:
    """The customer-facing reason; for manual changes without one, the program's default;
    for other movements (expiry, purchases, ...), what the movement is."""
    if item.customer_reason:
        return item.customer_reason
    if item.point_type in (None, PointType.Adjustment):
        return program.DefaultCustomerReason
    return POINT_TYPE_DESCRIPTIONS[item.point_type]


def points_response(summary: PointsSummary, program: ProgramSettings) -> dict[str, Any]:
    balances = summary.balances
    return {
        "CustomerExists": True,
        "InternalId": str(summary.customer_id),
        "Name": summary.name,
        "PointsBalance": balances.spendable,
        "PendingPoints": balances.pending,
        "HeldPoints": balances.held,
        "CashbackBalance": cashback(balances.spendable, program),
        "PointsToExpire": [
            {"Points": e.points, "When": iso_utc(e.when)} for e in summary.to_expire
        ],
        "PointHistory": [history_item(i, program) for i in summary.history],
    }


def order_model(outcome: Outcome, balances: Balances, program: ProgramSettings) -> dict[str, Any]:
    order = outcome.order
    return {
        "Id": order.id,
        "OriginalId": order.original_id,
        "State": order.state,
        "OrderTotal": Decimal(order.total_cents) / 100,
        "RefundedTotal": Decimal(order.refunded_cents) / 100,
        "EarnedPoints": order.earned_points,
        "ReversedPoints": order.reversed_points,
        "Coupon": order.coupon,
        "RewardId": order.redemption_id,
        "OrderStatus": order.status_text,
        "OrderPlacementDate": iso_utc(order.placed_at),
        "OrderCompletedDate": iso_utc(order.completed_at),
        "OrderCancelledDate": iso_utc(order.cancelled_at),
        "UpdatedDate": iso_utc(order.updated_at),
        "Customer": customer_model(outcome.customer, balances, program),
    }


def reward_configuration(reward: Reward) -> dict[str, Any]:
    """The reward configuration shape, shared by the Private API and the admin API."""
    return {
        "Id": reward.id,
        "Title": reward.title,
        "Description": reward.description,
        "RewardType": reward.reward_type,
        "Value": reward_service.value_of(reward),
        "Points": reward.points,
        "IsActive": reward.is_active,
        "MinimalValue": reward_service.minimal_value_of(reward),
        "CumulativeDiscount": reward.cumulative_discount,
        "ValidDays": reward.valid_days,
        "CodePrefix": reward.code_prefix,
        "CouponCodeLength": reward.coupon_code_length,
        "HasSameCustomerUsageLimit": reward.has_same_customer_usage_limit,
        "SameCustomerUsageLimit": reward.same_customer_usage_limit,
        "HasGlobalUsageLimit": reward.has_global_usage_limit,
        "GlobalUsageLimit": reward.global_usage_limit,
        "ValidDateStart": iso_utc(reward.valid_date_start),
        "ValidDateEnd": iso_utc(reward.valid_date_end),
    }


def unknown_customer_points() -> dict[str, Any]:
    return {
        "CustomerExists": False,
        "InternalId": None,
        "Name": None,
        "PointsBalance": 0,
        "PendingPoints": 0,
        "HeldPoints": 0,
        "CashbackBalance": Decimal(0),
        "PointsToExpire": [],
        "PointHistory": [],
    }


def page(items: list[dict[str, Any]], *, total: int, number: int, size: int) -> dict[str, Any]:
    return {
        "Items": items,
        "TotalItemCount": total,
        "PageSize": size,
        "PageNumber": number,
        "HasNextPage": number * size < total,
        "HasError": False,
        "ErrorMessages": [],
    }


def _hundredths(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value) / 100


# BonifiQ's CouponType: 0 FixedValue, 1 Percent, 2 FreeShipping, 3 DiscountShipping, 4 Others.
COUPON_TYPE = {
    RewardType.PercentDiscount: 1,
    RewardType.FixedValueDiscount: 0,
    RewardType.FreeShipping: 2,
    RewardType.Cashback: 0,
    RewardType.Custom: 4,
}


def coupon(redemption: Redemption) -> dict[str, Any] | None:
    """The coupon a redemption generated, or None."""
    if redemption.coupon_code is None:
        return None
    return {
        "CouponCode": redemption.coupon_code,
        "CouponType": COUPON_TYPE[RewardType(redemption.reward_type)],
        "CouponValue": _hundredths(redemption.value_cents),
        "ValidDateStart": iso_utc(redemption.created_at),
        "ValidDateEnd": iso_utc(redemption.coupon_valid_until),
    }


def available_coupon(redemption: Redemption) -> dict[str, Any]:
    """An item of `availablecoupons`."""
    shown = coupon(redemption)
    assert shown is not None
    return {
        "CouponCode": shown["CouponCode"],
        "CreatedDate": iso_utc(redemption.created_at),
        "IsUsed": redemption.order_ref is not None,
        "CouponValue": shown["CouponValue"],
        "CustomerId": redemption.customer_id,
        "ValidDateStart": shown["ValidDateStart"],
        "ValidDateEnd": shown["ValidDateEnd"],
        "CouponType": shown["CouponType"],
        "RewardId": redemption.id,
    }


def redeem_result(redemption: Redemption) -> dict[str, Any]:
    """`Result` of a PoS or coupon redeem."""
    return {
        "RewardId": redemption.id,
        "ExternalCode": redemption.external_code,
        "OriginalKey": redemption.original_key,
        "Point": {"PointId": redemption.transfer_id, "Quantity": -redemption.points},
        "Coupon": coupon(redemption),
        "RewardType": redemption.reward_type,
        "Value": _hundredths(redemption.value_cents),
    }


def checkout_result(redemption: Redemption, hold_transfer_id: int) -> dict[str, Any]:
    """`Result` of a checkout cashback redeem."""
    return {
        "RewardId": redemption.id,
        "ExternalCode": redemption.external_code,
        "OriginalKey": redemption.original_key,
        "CashbackValue": _hundredths(redemption.value_cents),
        "Point": {"PointId": hold_transfer_id, "Quantity": -redemption.points},
        "Coupon": None,
    }


def redemption_record(
    redemption: Redemption,
    customer: Customer,
    balances: Balances,
    program: ProgramSettings,
    now: datetime,
) -> dict[str, Any]:
    """The redemption record (`GET /v1/pvt/Rewards/{id}`, cancel results)."""
    cash = None
    if redemption.reward_type in (RewardType.Cashback, RewardType.FixedValueDiscount):
        cash = _hundredths(redemption.value_cents)
    return {
        "Id": redemption.id,
        "Customer": customer_model(customer, balances, program),
        "ExternalCode": redemption.external_code,
        "CashValue": cash,
        "IsCanceled": redemption.is_canceled_at(now),
        "RedeemDate": iso_utc(redemption.created_at),
        "Points": redemption.points,
        "OrderId": redemption.order_ref,
    }


def available_rewards(found: Offers, program: ProgramSettings) -> dict[str, Any]:
    """The bare answer of `POST /v1/pvt/POS/rewards/available`."""
    spendable = 0 if found.balances is None else max(found.balances.spendable, 0)
    max_cashback = cashback(found.cashback_points, program)
    customer = None
    if found.customer is not None and found.balances is not None:
        customer = customer_model(found.customer, found.balances, program)
    return {
        "HasRewards": any(o.can_use for o in found.offers),
        "ShouldValidateCustomer": False,
        "AvailablePoints": spendable,
        "CashbackEnabled": program.CashbackEnabled,
        "AvailableCashback": cashback(spendable, program),
        "MaxCashbackForCurrentPurchase": max_cashback,
        "Customer": customer,
        "Rewards": [_offer(o, spendable, max_cashback, program) for o in found.offers],
    }


def _offer(
    found: Offer, spendable: int, max_cashback: Decimal, program: ProgramSettings
) -> dict[str, Any]:
    reward = found.reward
    is_cashback = reward.reward_type == RewardType.Cashback
    return {
        "Id": reward.id,
        "Title": reward.title,
        "RewardType": reward.reward_type,
        "Value": reward_service.value_of(reward),
        "Points": reward.points,
        "IsCashback": is_cashback,
        "CanSelectValue": is_cashback,
        "CanUse": found.can_use,
        "CannotUseReason": int(found.reason),
        "Requirements": found.requirements,
        "RewardCanBeCumulative": reward.cumulative_discount,
        "AvailableCashback": cashback(spendable, program) if is_cashback else None,
        "MaxCashbackForCurrentPurchase": max_cashback if is_cashback else None,
    }
