"""The domain error tree. Services raise these; each API face maps them to its wire format once.

    FidelisError
    ├── NotFound            the thing named does not exist (in this tenant)
    │     CustomerNotFound, TenantNotFound, TransferNotFound, HoldNotFound, OrderNotFound,
    │     RewardNotFound, RedeemNotFound, LockNotFound
    ├── Conflict            an idempotency key or a state forbids the request
    │     ChangeKeyAlreadyUsed, IdempotencyKeyConflict, TransferAlreadyReversed, HoldNotActive,
    │     LockRolledBack, LockExpired, LockAlreadyCommitted
    ├── RuleViolation       a valid request that the program's rules refuse
    │     InsufficientBalance, CustomerDisabled, CashbackNotEnabled, InvalidOrderTransition,
    │     RefundExceedsOrderTotal, RewardInactive, RewardRequirementsNotMet, NotEnoughPoints,
    │     CustomerInDebt, CashbackValueTooHigh, ValueExceedsLock
    └── InvalidInput        the request itself is malformed
          InvalidField (ValidationError), PointsCannotBeZero, OperationTypeMismatch,
          ReasonRequired, CustomerReasonTooLong, InvalidValue, InvalidDocument,
          CheckoutIdRequired

Every leaf carries a stable `code` — the `CodeName` of the Private API's catalogue — so the
mapping to envelopes (`api/pvt/envelope.py`), to the reservation API and to CLI messages is a
lookup, not a chain of `isinstance` checks.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FidelisError(Exception):
    code: ClassVar[str] = "InternalError"
    default_message: ClassVar[str] = "Internal error."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class NotFound(FidelisError):
    pass


class Conflict(FidelisError):
    pass


class RuleViolation(FidelisError):
    pass


class InvalidInput(FidelisError):
    pass


# --- not found -------------------------------------------------------------------------------


class CustomerNotFound(NotFound):
    code = "CustomerNotFound"
    default_message = "Customer not found."


class TenantNotFound(NotFound):
    code = "TenantNotFound"
    default_message = "Tenant not found."


class TransferNotFound(NotFound):
    code = "TransferNotFound"
    default_message = "Movement not found."


class HoldNotFound(NotFound):
    code = "HoldNotFound"
    default_message = "Reservation not found."


class OrderNotFound(NotFound):
    code = "OrderNotFound"
    default_message = "Order not found."


class RewardNotFound(NotFound):
    code = "RewardNotFound"
    default_message = "Reward not found."


class RedeemNotFound(NotFound):
    code = "RedeemNotFound"
    default_message = "Redemption not found."


class LockNotFound(NotFound):
    code = "LockNotFound"
    default_message = "Lock not found."


class ApiKeyNotFound(NotFound):
    code = "ApiKeyNotFound"
    default_message = "API key not found."


# --- conflicts -------------------------------------------------------------------------------


class ChangeKeyAlreadyUsed(Conflict):
    code = "ChangeKeyAlreadyUsed"
    default_message = "This ChangeKey was already used; nothing was changed."


class IdempotencyKeyConflict(Conflict):
    code = "IdempotencyKeyConflict"
    default_message = "This key was already used for a different request."


class TransferAlreadyReversed(Conflict):
    code = "TransferAlreadyReversed"
    default_message = "This movement was already reversed."


class HoldNotActive(Conflict):
    code = "HoldNotActive"
    default_message = "These points are no longer reserved."


class LockRolledBack(Conflict):
    code = "LockRolledBack"
    default_message = "This lock was rolled back."


class LockExpired(Conflict):
    code = "LockExpired"
    default_message = "This lock expired."


class LockAlreadyCommitted(Conflict):
    code = "LockAlreadyCommitted"
    default_message = "This lock was committed."


class TenantAlreadyExists(Conflict):
    code = "TenantAlreadyExists"
    default_message = "A tenant with this slug already exists."


# --- rule violations -------------------------------------------------------------------------


class InsufficientBalance(RuleViolation):
    code = "InsufficientBalance"
    default_message = "The customer does not have enough available points."


class CustomerDisabled(RuleViolation):
    code = "CustomerDisabled"
    default_message = "The customer is disabled."


class InvalidOrderTransition(RuleViolation):
    code = "InvalidOrderTransition"
    default_message = "The order cannot go from its current state to the one requested."


class RefundExceedsOrderTotal(RuleViolation):
    code = "RefundExceedsOrderTotal"
    default_message = "The refund exceeds what is left of the order total."


class CashbackNotEnabled(RuleViolation):
    code = "CashbackNotEnabled"
    default_message = "Cashback is not enabled for this program."


class RewardInactive(RuleViolation):
    code = "RewardInactive"
    default_message = "This reward is not active."


class RewardRequirementsNotMet(RuleViolation):
    code = "RewardRequirementsNotMet"
    default_message = "The reward's requirements are not met."


class NotEnoughPoints(RuleViolation):
    code = "NotEnoughPoints"
    default_message = "The customer does not have enough points for this reward."


class CustomerInDebt(RuleViolation):
    code = "CustomerInDebt"
    default_message = "The customer owes points and cannot redeem until the debt is paid."


class CashbackValueTooHigh(RuleViolation):
    code = "CashbackValueTooHigh"
    default_message = "The cashback asked for is more than this purchase may use."


class ValueExceedsLock(RuleViolation):
    code = "ValueExceedsLock"
    default_message = "The value is more than the lock reserved."


# --- invalid input ---------------------------------------------------------------------------


class InvalidField(InvalidInput):
    """A field is missing, of the wrong type or out of range (`ValidationError` on the wire)."""

    code = "ValidationError"
    default_message = "The request is invalid."


class PointsCannotBeZero(InvalidInput):
    code = "PointsCannotBeZero"
    default_message = "Points cannot be zero."


class OperationTypeMismatch(InvalidInput):
    code = "OperationTypeMismatch"
    default_message = "Adding needs a positive amount and removing a negative one."


class ReasonRequired(InvalidInput):
    code = "ReasonRequired"
    default_message = "Reason is required."


class CustomerReasonTooLong(InvalidInput):
    code = "CustomerReasonTooLong"
    default_message = "CustomerReason must be at most 255 characters."


class InvalidValue(InvalidInput):
    code = "InvalidValue"
    default_message = "Invalid value."


class CheckoutIdRequired(InvalidInput):
    code = "CheckoutIdRequired"
    default_message = "CheckoutId is required."


class InvalidDocument(InvalidInput):
    code = "InvalidDocument"
    default_message = "Document is not a valid CPF or CNPJ."


# --- access ----------------------------------------------------------------------------------


class Unauthorized(FidelisError):
    """Missing, malformed, wrong or revoked credentials."""

    code = "Unauthorized"
    default_message = "Missing or invalid credentials."


class RateLimited(FidelisError):
    """Too many failed attempts from this address: wait, then try again (429)."""

    code = "RateLimited"
    default_message = "Too many failed authentication attempts from this address; try later."


class Forbidden(FidelisError):
    """Valid credentials that may not do this."""

    code = "Forbidden"
    default_message = "Forbidden."


class MissingBrand(Forbidden):
    code = "MissingBrand"
    default_message = "The brand header is required."


class AccessDenied(Forbidden):
    code = "AccessDenied"
    default_message = "These credentials do not belong to this brand."


class ServiceUnavailable(FidelisError):
    """The database cannot be reached or is saturated: try again shortly (503)."""

    code = "ServiceUnavailable"
    default_message = "The service is temporarily unavailable; try again shortly."
