"""How payments and refunds look outside: in API answers and in the events they publish.

Built directly (not through DRF serializers) because the API renders payments on its hottest
path and services publish them in their transactions; the serializers in api/serializers.py
remain the documented schema, and tests keep the two identical.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from .errors import PaymentBlocked
from .models import Payment, PaymentMethodType, Refund


def _iso(value: Any) -> str | None:
    """As DRF's DateTimeField renders it (UTC, 'Z')."""
    if value is None:
        return None
    text: str = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def payment_representation(payment: Payment) -> dict[str, Any]:
    """The same dict as PaymentOutputSerializer(payment).data."""
    return {
        "id": payment.public_id,
        "object": "payment",
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "capture": payment.capture,
        "amount_authorized": payment.amount_authorized,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "amount_refund_pending": payment.amount_refund_pending,
        "amount_refundable": payment.refundable_amount,
        "payment_method_type": payment.payment_method_type,
        "card": card_view(payment),
        "bank_account": bank_account_view(payment),
        "customer": payment.customer.public_id if payment.customer_id and payment.customer else None,
        "reference": payment.reference,
        "description": payment.description,
        "metadata": payment.metadata,
        "gateway": payment.gateway_account.gateway,
        "gateway_transaction_id": payment.gateway_transaction_id,
        "failure_code": payment.failure_code or None,
        "failure_message": payment.failure_message or None,
        "authentication": payment.authentication or None,
        "next_action": next_action(payment),
        "risk": risk_view(payment),
        "review": payment.review or None,
        "livemode": payment.livemode,
        "created_at": _iso(payment.created_at),
        "updated_at": _iso(payment.updated_at),
    }


# What only the merchant sees: which risk rules fired and the score, the review's notes, the
# merchant's own metadata, the gateway's transaction ids. A customer session (the customer itself,
# or anyone holding its token) never does: end customers must not learn how fraud is screened.
MERCHANT_ONLY_PAYMENT_FIELDS = frozenset({"risk", "review", "metadata", "gateway_transaction_id"})
MERCHANT_ONLY_REFUND_FIELDS = frozenset({"gateway_transaction_id"})
CUSTOMER_DECLINE = ("card_declined", "The payment was declined.")


def failure_for_customer(code: str | None, message: str | None = None) -> tuple[str | None, str | None]:
    """A failure's code and message as a customer may see them, wherever a customer session reads
    one (a payment, a renewal's billing attempt): one stopped by risk checks reads as a plain decline."""
    if code == PaymentBlocked.code:
        return CUSTOMER_DECLINE
    return code, message


def payment_for_customer(body: dict[str, Any]) -> dict[str, Any]:
    """A payment's representation as its customer sees it: without the merchant-only fields, and a
    payment stopped by risk checks reads as a plain decline."""
    shown = {name: value for name, value in body.items() if name not in MERCHANT_ONLY_PAYMENT_FIELDS}
    if "failure_code" in shown:
        shown["failure_code"], shown["failure_message"] = failure_for_customer(
            shown["failure_code"], shown.get("failure_message")
        )
    return shown


def refund_for_customer(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name not in MERCHANT_ONLY_REFUND_FIELDS}


def card_view(payment: Payment) -> dict[str, Any] | None:
    if payment.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT:
        return None
    return {
        "brand": payment.card_brand,
        "last4": payment.card_last4,
        "exp_month": payment.card_exp_month,
        "exp_year": payment.card_exp_year,
    }


def bank_account_view(payment: Payment) -> dict[str, Any] | None:
    """A bank account debit's account, by its last four digits only."""
    if payment.payment_method_type != PaymentMethodType.US_BANK_ACCOUNT:
        return None
    return {
        "last4": payment.card_last4,
        "routing_last4": payment.bank_routing_last4,
        "account_type": payment.bank_account_type,
        "account_holder_name": payment.bank_account_holder,
    }


def risk_view(payment: Payment) -> dict[str, Any] | None:
    """The assessment as the API shows it (errors, for operators, stay in the stored record)."""
    risk = payment.risk
    if not risk:
        return None
    keys = ("score", "level", "outcome")
    return {**{key: risk[key] for key in keys}, "rules": risk.get("matched", [])}


def next_action(payment: Payment) -> dict[str, Any] | None:
    """What the customer must do before the payment can go on (3-D Secure), like Stripe's."""
    if payment.status != "requires_action" or not payment.action_url:
        return None
    return {
        "type": "redirect_to_url",
        "redirect_to_url": {"url": payment.action_url, "return_url": payment.return_url or None},
    }


def refund_representation(refund: Refund) -> dict[str, Any]:
    """The same dict as RefundOutputSerializer(refund).data."""
    return {
        "id": refund.public_id,
        "object": "refund",
        "payment": refund.payment.public_id,
        "status": refund.status,
        "amount": refund.amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "gateway_transaction_id": refund.gateway_transaction_id,
        "failure_code": refund.failure_code or None,
        "failure_message": refund.failure_message or None,
        "created_at": _iso(refund.created_at),
        "updated_at": _iso(refund.updated_at),
    }
