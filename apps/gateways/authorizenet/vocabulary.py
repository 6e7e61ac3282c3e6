"""Authorize.Net's codes and statuses in our words, and reading its objectify responses.

Responses are lxml.objectify trees: numeric-looking codes are IntElements, so every value is
read through `.text`; optional children may be missing, so every access is guarded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.gateways.base import NotificationKind, TransactionState
from apps.gateways.recurring_interface import RecurringStatus

BRANDS = {
    "Visa": "visa",
    "MasterCard": "mastercard",
    "AmericanExpress": "amex",
    "Discover": "discover",
    "JCB": "jcb",
    "DinersClub": "diners",
    "eCheck": "echeck",
}
# Reason codes (transactionResponse errors) -> our decline codes.
DECLINE_CODES = {
    "2": "card_declined",
    "3": "card_declined",
    "4": "card_declined",
    "5": "invalid_amount",
    "6": "invalid_card_number",
    "7": "invalid_expiry",
    "8": "expired_card",
    "9": "invalid_routing_number",
    "10": "invalid_account_number",
    "11": "duplicate_transaction",
    "16": "transaction_not_found",
    "27": "avs_mismatch",
    "44": "cvv_mismatch",
    "45": "avs_cvv_mismatch",
    "47": "capture_exceeds_authorized",
    "54": "payment_not_settled",  # a refund before settlement: void instead
    "55": "refund_exceeds_charge",
    "65": "cvv_mismatch",
    "100": "bank_account_not_supported",  # eCheck type or account type refused
    "244": "bank_account_not_supported",
    "246": "bank_account_not_supported",
    "310": "already_voided",
    "311": "already_captured",
}
# Reason codes that mean our account or request is wrong, not the card.
MISCONFIGURED_REASONS = {"13", "33", "103", "123"}
# API-level message codes.
RETRYABLE_API_CODES = {"E00001"}
# An Accept.js token (OTS: one-time-use) that is invalid, expired or used.
INVALID_TOKEN_API_CODES = {"E00114"}
# E00011 ("Access denied": a permission the API user lacks) is not among them: the record may well
# exist, and "not found" would let a cancel or delete that was refused pass as done.
NOT_FOUND_API_CODES = {"E00040", "E00035"}
STATES = {
    "authorizedPendingCapture": TransactionState.AUTHORIZED,
    "authorizedPendingRelease": TransactionState.AUTHORIZED,
    "capturedPendingSettlement": TransactionState.CAPTURED,
    "pendingSettlement": TransactionState.CAPTURED,
    "pendingFinalSettlement": TransactionState.CAPTURED,
    "updatingSettlement": TransactionState.CAPTURED,
    "settledSuccessfully": TransactionState.SETTLED,
    "voided": TransactionState.VOIDED,
    "couldNotVoid": TransactionState.ERROR,
    "declined": TransactionState.DECLINED,
    "expired": TransactionState.DECLINED,
    "failedReview": TransactionState.DECLINED,
    "refundPendingSettlement": TransactionState.REFUND_PENDING,
    "refundSettledSuccessfully": TransactionState.REFUND_SETTLED,
    "FDSPendingReview": TransactionState.UNDER_REVIEW,
    "FDSAuthorizedPendingReview": TransactionState.UNDER_REVIEW,
    "underReview": TransactionState.UNDER_REVIEW,
    "approvedReview": TransactionState.CAPTURED,
    "generalError": TransactionState.ERROR,
    "communicationError": TransactionState.ERROR,
    "settlementError": TransactionState.ERROR,
    "returnedItem": TransactionState.SETTLED,
    "chargeback": TransactionState.SETTLED,
    "chargebackReversal": TransactionState.SETTLED,
}


# ARB's subscription statuses (ARBSubscriptionStatusEnum) in our words.
_RECURRING_STATUSES = {
    "active": RecurringStatus.ACTIVE,
    "suspended": RecurringStatus.SUSPENDED,
    "canceled": RecurringStatus.CANCELED,
    "cancelled": RecurringStatus.CANCELED,
    "terminated": RecurringStatus.TERMINATED,
    "expired": RecurringStatus.EXPIRED,
}

# Webhook event types (net.authorize.*) in our words. ARB's own charges arrive as ordinary
# authcapture notifications; every customer.subscription.* event means "ask the schedule".
NOTIFICATION_KINDS = {
    "net.authorize.payment.authcapture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.authorization.created": NotificationKind.PAYMENT_AUTHORIZED,
    "net.authorize.payment.capture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.priorAuthCapture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.refund.created": NotificationKind.REFUND_SUCCEEDED,
    "net.authorize.payment.void.created": NotificationKind.PAYMENT_VOIDED,
    "net.authorize.payment.fraud.approved": NotificationKind.PAYMENT_UNDER_REVIEW,
    "net.authorize.payment.fraud.declined": NotificationKind.PAYMENT_UNDER_REVIEW,
    "net.authorize.payment.fraud.held": NotificationKind.PAYMENT_UNDER_REVIEW,
}
SUBSCRIPTION_EVENT_PREFIX = "net.authorize.customer.subscription."


def recurring_status(status: str) -> RecurringStatus:
    return _RECURRING_STATUSES.get(status.lower(), RecurringStatus.UNKNOWN)


def brand(card_type: str) -> str:
    return BRANDS.get(card_type, card_type.lower())


def decline_code(reason: str, default: str = "processing_error") -> str:
    return DECLINE_CODES.get(reason, default)


def child(node: Any, name: str) -> Any:
    """A child element by local name. Not getattr: objectify elements have their own `.text`."""
    return node.find(f"{{*}}{name}") if node is not None else None


def text(node: Any, *path: str) -> str:
    """The text of a nested optional child, or "" when any step is missing."""
    for name in path:
        node = child(node, name)
        if node is None:
            return ""
    value = node.text
    return value.strip() if isinstance(value, str) else ""


def utc_time(value: str) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def all_of(node: Any, *path: str) -> list[Any]:
    """Every element at the last step of the path (repeated elements such as transaction)."""
    for name in path[:-1]:
        node = child(node, name)
        if node is None:
            return []
    return list(node.findall(f"{{*}}{path[-1]}")) if node is not None else []


def first_message(node: Any) -> tuple[str, str]:
    """(code, text) of messages.message[0] of an API response."""
    messages = all_of(node, "messages", "message")
    if not messages:
        return "", ""
    return text(messages[0], "code"), text(messages[0], "text")
