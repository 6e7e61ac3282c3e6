"""Stripe's words in ours, read off plain dicts (the JSON of Stripe's objects): PaymentIntent and
refund states, decline codes, webhook event types, balance transactions. No SDK here: the adapter
(apps/gateways/stripe.py) hands its objects over as dicts, so this module is testable on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.gateways.settlement_interface import SettlementLineData, SettlementLineKind

from .base import (
    Billing,
    Card,
    GatewayResult,
    Notification,
    NotificationKind,
    OpaqueToken,
    Outcome,
    StoredCard,
    TransactionDetails,
    TransactionState,
)
from .errors import GatewayDeclined

# The descriptor of an opaque token that is a payment method id from Stripe.js (pm_…, or one of
# Stripe's test ids such as pm_card_visa).
PAYMENT_METHOD_DESCRIPTOR = "stripe.payment_method"


def payment_method_of(token: OpaqueToken) -> str:
    """The payment method id a browser token carries; GatewayDeclined for a token of another
    gateway's library (an Accept.js nonce, say)."""
    if token.descriptor != PAYMENT_METHOD_DESCRIPTOR:
        raise GatewayDeclined(
            GatewayResult(
                Outcome.DECLINED,
                "",
                message=f"Stripe takes {PAYMENT_METHOD_DESCRIPTOR} tokens, not {token.descriptor[:40]}",
                decline_code="invalid_payment_method",
            )
        )
    return token.value


# Stripe's error codes and decline codes -> our decline codes (the API's `failure_code`). Anything
# else the issuer says is a plain decline: the reason (lost, stolen, fraud ...) is not for the
# customer's eyes.
DECLINE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "cvv_mismatch",
    "invalid_cvc": "cvv_mismatch",
    "incorrect_number": "invalid_card_number",
    "invalid_number": "invalid_card_number",
    "invalid_expiry_month": "invalid_expiry",
    "invalid_expiry_year": "invalid_expiry",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_failed",
    "setup_intent_authentication_failure": "authentication_failed",
    "incorrect_zip": "avs_mismatch",
    "card_velocity_exceeded": "card_declined",
}

# The webhook event types we act on, and what they mean to us.
EVENT_KINDS = {
    "payment_intent.amount_capturable_updated": NotificationKind.PAYMENT_AUTHORIZED,
    "payment_intent.succeeded": NotificationKind.PAYMENT_CAPTURED,
    "payment_intent.payment_failed": NotificationKind.PAYMENT_FAILED,
    "payment_intent.canceled": NotificationKind.PAYMENT_VOIDED,
    "payment_intent.requires_action": NotificationKind.PAYMENT_ACTION_REQUIRED,
    "charge.refunded": NotificationKind.REFUND_SUCCEEDED,
    "charge.refund.updated": NotificationKind.REFUND_SUCCEEDED,
    "refund.updated": NotificationKind.REFUND_SUCCEEDED,
    "refund.failed": NotificationKind.REFUND_FAILED,
    "setup_intent.succeeded": NotificationKind.CARD_SAVED,
    "setup_intent.setup_failed": NotificationKind.CARD_SAVED,
    "charge.dispute.created": NotificationKind.DISPUTE_OPENED,
    "charge.dispute.closed": NotificationKind.DISPUTE_CLOSED,
}


def text(value: Any) -> str:
    return "" if value is None else str(value)


def timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError):
        return None


def object_id(value: Any) -> str:
    """An expandable field: the id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return text(value.get("id"))
    return text(value)


def decline_code(error: dict[str, Any] | None, default: str = "card_declined") -> str:
    if not error:
        return default
    for code in (error.get("decline_code"), error.get("code")):
        if code and code in DECLINE_CODES:
            return DECLINE_CODES[code]
    return default


def reference_of(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    return text(metadata.get("reference")) if isinstance(metadata, dict) else ""


def card_of(intent: dict[str, Any]) -> dict[str, Any]:
    """The card an intent was paid (or tried) with: its expanded payment method, else its
    charge's payment method details."""
    method = intent.get("payment_method")
    if isinstance(method, dict) and isinstance(method.get("card"), dict):
        return dict(method["card"])
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        details = charge.get("payment_method_details") or {}
        if isinstance(details.get("card"), dict):
            return dict(details["card"])
    error = intent.get("last_payment_error") or {}
    method = error.get("payment_method") if isinstance(error, dict) else None
    if isinstance(method, dict) and isinstance(method.get("card"), dict):
        return dict(method["card"])
    return {}


def action_url(intent: dict[str, Any]) -> str:
    action = intent.get("next_action") or {}
    redirect = action.get("redirect_to_url") if isinstance(action, dict) else None
    return text(redirect.get("url")) if isinstance(redirect, dict) else ""


def intent_result(intent: dict[str, Any]) -> GatewayResult:
    """A PaymentIntent after a create, confirm or capture, as our result. A refused intent is a
    DECLINED result (the adapter raises it)."""
    status = text(intent.get("status"))
    card = card_of(intent)
    common = {
        "transaction_id": text(intent.get("id")),
        "card_brand": text(card.get("brand"))[:20],
        "card_last4": text(card.get("last4"))[-4:],
    }
    checks: dict[str, Any] = card["checks"] if isinstance(card.get("checks"), dict) else {}
    if status in {"succeeded", "requires_capture"}:
        message = "Captured" if status == "succeeded" else "Authorized"
        return GatewayResult(
            Outcome.APPROVED,
            response_code="1",
            message=message,
            cvv_result={"pass": "M", "fail": "N"}.get(text(checks.get("cvc_check")), ""),
            **common,
        )
    if status == "requires_action":
        message = "The card asks the customer to authenticate"
        return GatewayResult(Outcome.REQUIRES_ACTION, message=message, action_url=action_url(intent), **common)
    if status == "processing":
        return GatewayResult(Outcome.HELD, message="Processing at the gateway", **common)
    error = intent.get("last_payment_error") or {}
    return GatewayResult(
        Outcome.DECLINED,
        response_code="2",
        reason_code=text(error.get("decline_code") or error.get("code"))[:10],
        message=text(error.get("message") or f"Payment {status}")[:255],
        decline_code=decline_code(error, "card_declined"),
        **common,
    )


def _intent_state(intent: dict[str, Any]) -> TransactionState:
    status = text(intent.get("status"))
    if status == "requires_capture":
        return TransactionState.AUTHORIZED
    if status == "succeeded":
        return TransactionState.CAPTURED
    if status == "processing":
        return TransactionState.UNDER_REVIEW
    if status == "requires_action":
        return TransactionState.REQUIRES_ACTION
    if status == "canceled":
        charge = intent.get("latest_charge")
        authorised = isinstance(charge, dict) and charge.get("status") == "succeeded"
        return TransactionState.VOIDED if authorised else TransactionState.DECLINED
    # requires_payment_method / requires_confirmation: refused, or not paid yet.
    return TransactionState.DECLINED if intent.get("last_payment_error") else TransactionState.REQUIRES_ACTION


def intent_details(intent: dict[str, Any]) -> TransactionDetails:
    card = card_of(intent)
    error = intent.get("last_payment_error") or {}
    state = _intent_state(intent)
    return TransactionDetails(
        transaction_id=text(intent.get("id")),
        state=state,
        transaction_type="payment_intent",
        reference=reference_of(intent),
        authorized_amount=int(intent.get("amount_capturable") or 0) + int(intent.get("amount_received") or 0),
        settled_amount=int(intent.get("amount_received") or 0),
        currency=text(intent.get("currency")).upper(),
        reason_code=text(error.get("decline_code") or error.get("code"))[:10],
        message=text(error.get("message") or intent.get("status"))[:255],
        decline_code=decline_code(error) if state is TransactionState.DECLINED else "",
        action_url=action_url(intent),
        card_brand=text(card.get("brand"))[:20],
        card_last4=text(card.get("last4"))[-4:],
        submitted_at=timestamp(intent.get("created")),
    )


_REFUND_STATES = {
    "pending": TransactionState.REFUND_PENDING,
    "requires_action": TransactionState.REFUND_PENDING,
    "succeeded": TransactionState.REFUND_SETTLED,
    "failed": TransactionState.DECLINED,
    "canceled": TransactionState.DECLINED,
}


def refund_details(refund: dict[str, Any]) -> TransactionDetails:
    return TransactionDetails(
        transaction_id=text(refund.get("id")),
        state=_REFUND_STATES.get(text(refund.get("status")), TransactionState.ERROR),
        transaction_type="refund",
        reference=reference_of(refund),
        settled_amount=int(refund.get("amount") or 0),
        currency=text(refund.get("currency")).upper(),
        message=text(refund.get("failure_reason") or refund.get("status"))[:255],
        original_transaction_id=object_id(refund.get("payment_intent")),
        submitted_at=timestamp(refund.get("created")),
    )


def stored_card(method: dict[str, Any]) -> StoredCard:
    card = method.get("card") or {}
    return StoredCard(
        customer_token=object_id(method.get("customer")),
        payment_token=text(method.get("id")),
        card_brand=text(card.get("brand"))[:20],
        card_last4=text(card.get("last4"))[-4:],
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def billing_details(billing: Billing) -> dict[str, Any]:
    address = {
        "line1": billing.line1,
        "city": billing.city,
        "state": billing.state,
        "postal_code": billing.postal_code,
        "country": billing.country,
    }
    details: dict[str, Any] = {"address": {k: v for k, v in address.items() if v}}
    if billing.name:
        details["name"] = billing.name
    if billing.email:
        details["email"] = billing.email
    return details if details["address"] or len(details) > 1 else {}


def card_data(card: Card, billing: Billing) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "card",
        "card": {"number": card.number, "exp_month": card.exp_month, "exp_year": card.exp_year},
    }
    if card.cvc:
        data["card"]["cvc"] = card.cvc
    details = billing_details(billing)
    if details:
        data["billing_details"] = details
    return data


# --- settlements: a payout's balance transactions ------------------------------------------------

_LINE_KINDS = {"charge": SettlementLineKind.CHARGE, "payment": SettlementLineKind.CHARGE}
_REFUND_TYPES = {"refund", "payment_refund"}


def settlement_line(txn: dict[str, Any], payout_id: str = "") -> SettlementLineData | None:
    """One balance transaction of payout `payout_id`; None for the payout's own entry. A charge is
    known to us by its PaymentIntent, a refund by its own id (with its PaymentIntent as the parent).
    Anything else (a dispute, a failed refund given back, an earlier manual payout swept into this
    one) is an adjustment. Amounts are positive; the fee is Stripe's, kept out of the net."""
    kind_name = text(txn.get("type"))
    source = txn.get("source")
    source = source if isinstance(source, dict) else {"id": text(source)}
    if kind_name == "payout" and (not payout_id or text(source.get("id")) == payout_id):
        return None
    if kind_name in _REFUND_TYPES:
        kind = SettlementLineKind.REFUND
        transaction_id = text(source.get("id"))
        parent = object_id(source.get("payment_intent"))
    else:
        kind = _LINE_KINDS.get(kind_name, SettlementLineKind.ADJUSTMENT)
        transaction_id = object_id(source.get("payment_intent")) or text(source.get("id")) or text(txn.get("id"))
        if kind is SettlementLineKind.ADJUSTMENT:
            transaction_id = text(txn.get("id")) or transaction_id  # one source may move money more than once
        parent = ""
    return SettlementLineData(
        transaction_id=transaction_id,
        kind=kind,
        status=kind_name[:40],
        amount=abs(int(txn.get("amount") or 0)),
        currency=text(txn.get("currency")).upper(),
        fee=int(txn.get("fee") or 0),
        reference=reference_of(source),
        parent_transaction_id=parent,
        occurred_at=timestamp(txn.get("created")),
    )


# --- webhooks -------------------------------------------------------------------------------------


def notification(event: dict[str, Any]) -> Notification:
    """A Stripe event in our words. The object's PaymentIntent is what our payments know it by."""
    event_type = text(event.get("type"))
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    kind = EVENT_KINDS.get(event_type, NotificationKind.OTHER)
    entity = text(obj.get("object"))
    object_id_, charge_id, order_id = text(obj.get("id")), "", ""
    if entity == "payment_intent":
        order_id = object_id_  # a browser checkout's order is its PaymentIntent
    elif entity == "charge":
        # A charge is ours by its PaymentIntent.
        object_id_ = object_id(obj.get("payment_intent")) or object_id_
    elif entity == "refund":
        charge_id = object_id(obj.get("payment_intent"))
        if text(obj.get("status")) in {"failed", "canceled"}:
            kind = NotificationKind.REFUND_FAILED
    elif entity == "dispute":
        charge_id = object_id(obj.get("payment_intent"))
    return Notification(
        event_id=text(event.get("id")),
        event_type=event_type,
        entity=entity,
        object_id=object_id_,
        reference=reference_of(obj),
        kind=kind,
        order_id=order_id,
        charge_id=charge_id,
    )
