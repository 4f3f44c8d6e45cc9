"""What a customer may redeem on a purchase: `CanUse`, `CannotUseReason` and `Requirements`.

Pure; no database. The PoS list of available rewards shows these, and a PoS redeem that names
its purchase (`PurchaseValue`) is refused for the same reasons, so the till and the server
never disagree.

Reasons, checked in this order (the first that applies is given):

- 4 NoCustomer: the customer is unknown.
- 7 CustomerNotEnrolled: the customer is not enrolled in the program, or is disabled.
- 8 CannotUseCumulativeDiscount: the purchase has another discount and the reward does not
  combine with others (`CumulativeDiscount` false).
- 2 MinimumValueNotReached: the purchase value is under the reward's `MinimalValue`.
- 5 RewardValueExceedsPurchase: a fixed-value discount larger than what is left to pay.
- Cashback rewards: 3 CashbackNotAvailable when cashback is off or the customer has none;
  6 MinimumPurchasePercentNotReached when the redemption rule gives this purchase no cashback
  (under `MinPurchaseValue`, nothing eligible, store or source not allowed, or a cap worth
  less than one point).
- 1 NotEnoughPoints: fewer spendable points than the reward costs (a customer in debt has none).

A purchase value that is not given skips the checks that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from fidelis.customer.repository import Customer
from fidelis.kit import money
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import rule
from fidelis.reward.repository import Reward
from fidelis.reward.service import RewardType, minimal_value_of, value_of


class CannotUse(IntEnum):
    CanUse = 0
    NotEnoughPoints = 1
    MinimumValueNotReached = 2
    CashbackNotAvailable = 3
    NoCustomer = 4
    RewardValueExceedsPurchase = 5
    MinimumPurchasePercentNotReached = 6
    CustomerNotEnrolled = 7
    CannotUseCumulativeDiscount = 8


@dataclass(frozen=True, slots=True)
class Offer:
    reward: Reward
    reason: CannotUse
    # Cashback rewards: the most points usable on this purchase (0 for other rewards).
    max_cashback_points: int
    requirements: str

    @property
    def can_use(self) -> bool:
        return self.reason == CannotUse.CanUse


def cashback_limit(program: ProgramSettings, purchase: rule.Purchase, spendable: int) -> int:
    """The most points of cashback this purchase may use, after the redemption rule."""
    if not program.CashbackEnabled:
        return 0
    capped = rule.cap(program.RedemptionRule, purchase)
    return rule.limit_points(capped.value, program.PointValue, spendable)


def offer(
    reward: Reward,
    *,
    customer: Customer | None,
    spendable: int,
    program: ProgramSettings,
    purchase: rule.Purchase,
) -> Offer:
    """The reward as this customer may use it on this purchase (reasons in the module doc)."""
    is_cashback = reward.reward_type == RewardType.Cashback
    limit = cashback_limit(program, purchase, spendable) if is_cashback else 0
    reason = _reason(reward, customer, spendable, program, purchase, limit)
    return Offer(reward, reason, limit, requirements(reward, program))


def _reason(
    reward: Reward,
    customer: Customer | None,
    spendable: int,
    program: ProgramSettings,
    purchase: rule.Purchase,
    cashback_limit: int,
) -> CannotUse:
    if customer is None:
        return CannotUse.NoCustomer
    if not (customer.is_enrolled and customer.is_enabled):
        return CannotUse.CustomerNotEnrolled
    if purchase.discount > 0 and not reward.cumulative_discount:
        return CannotUse.CannotUseCumulativeDiscount
    if purchase.total is not None:
        if purchase.total < minimal_value_of(reward):
            return CannotUse.MinimumValueNotReached
        value = value_of(reward)
        if (
            reward.reward_type == RewardType.FixedValueDiscount
            and value is not None
            and value > purchase.total - purchase.discount
        ):
            return CannotUse.RewardValueExceedsPurchase
    if reward.reward_type == RewardType.Cashback:
        if not program.CashbackEnabled or spendable <= 0:
            return CannotUse.CashbackNotAvailable
        if cashback_limit == 0:
            return CannotUse.MinimumPurchasePercentNotReached
        return CannotUse.CanUse
    if spendable < (reward.points or 0):
        return CannotUse.NotEnoughPoints
    return CannotUse.CanUse


def requirements(reward: Reward, program: ProgramSettings) -> str:
    """The reward's conditions as one Portuguese sentence per condition, for the till's screen."""
    parts: list[str] = []
    minimum = minimal_value_of(reward)
    if reward.reward_type == RewardType.Cashback:
        redemption = program.RedemptionRule
        parts.append("Use seu cashback como desconto nesta compra.")
        if redemption.MaxPercentOfPurchase < 100:
            percent = f"{redemption.MaxPercentOfPurchase.normalize():f}".replace(".", ",")
            parts.append(f"Até {percent}% do valor da compra.")
        if redemption.MaxValue is not None:
            parts.append(f"Limite de {money.brl(redemption.MaxValue)} por compra.")
        minimum = max(minimum, redemption.MinPurchaseValue)
    else:
        parts.append(f"Custa {reward.points} {'ponto' if reward.points == 1 else 'pontos'}.")
    if minimum > 0:
        parts.append(f"Válido para compras acima de {money.brl(minimum)}.")
    if not reward.cumulative_discount:
        parts.append("Não cumulativo com outros descontos.")
    return " ".join(parts)
