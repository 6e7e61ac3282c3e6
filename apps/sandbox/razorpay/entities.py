"""One rendering function per entity, shared by the API responses and the webhook payloads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from apps.sandbox.models import RzpCustomer, RzpOrder, RzpPayment, RzpRefund, RzpSettlement, RzpToken


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _notes(notes: Any) -> Any:
    # The real API renders empty notes as an empty JSON array.
    return notes if notes else []


def order_entity(order: RzpOrder) -> dict[str, Any]:
    return {
        "id": order.rzp_id,
        "entity": "order",
        "amount": order.amount,
        "amount_paid": order.amount_paid,
        "amount_due": order.amount - order.amount_paid,
        "currency": order.currency,
        "receipt": order.receipt,
        "offer_id": None,
        "status": order.status,
        "attempts": order.attempts,
        "notes": _notes(order.notes),
        "created_at": unix(order.created_at),
        # Only orders made for a customer (recurring authorisation orders) carry it.
        **({"customer_id": order.customer.rzp_id} if order.customer is not None else {}),
    }


def payment_entity(payment: RzpPayment, *, expand_card: bool = False) -> dict[str, Any]:
    """A payment as the API gives it. The `card` object comes only with `expand[]=card` on fetches
    (Razorpay's documented behaviour); webhooks carry it always."""
    card = {
        "id": payment.card_id,
        "entity": "card",
        "name": payment.card_name,
        "last4": payment.card_last4,
        "network": payment.card_network,
        "type": payment.card_type,
        "issuer": None,
        "international": payment.international,
        "emi": False,
        "sub_type": "consumer",
    }
    return {
        "id": payment.rzp_id,
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "order_id": payment.order.rzp_id,
        "invoice_id": None,
        "international": payment.international,
        "method": payment.method,
        "amount_refunded": payment.amount_refunded,
        "refund_status": payment.refund_status,
        "captured": payment.captured,
        "description": payment.description,
        "card_id": payment.card_id or None,
        **({"card": card if payment.card_id else None} if expand_card else {}),
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": payment.email,
        "contact": payment.contact,
        "customer_id": payment.customer.rzp_id if payment.customer is not None else None,
        "token_id": payment.token.rzp_id if payment.token is not None else None,
        "recurring": payment.recurring,
        "notes": _notes(payment.notes),
        "fee": payment.fee,
        "tax": payment.tax,
        "error_code": payment.error_code,
        "error_description": payment.error_description,
        "error_source": payment.error_source,
        "error_step": payment.error_step,
        "error_reason": payment.error_reason,
        "acquirer_data": {"auth_code": payment.auth_code or None},
        "created_at": unix(payment.created_at),
    }


def customer_entity(customer: RzpCustomer) -> dict[str, Any]:
    return {
        "id": customer.rzp_id,
        "entity": "customer",
        "name": customer.name,
        "email": customer.email,
        "contact": customer.contact,
        "gstin": customer.gstin,
        "notes": _notes(customer.notes),
        "created_at": unix(customer.created_at),
    }


def card_expires_at(month: int, year: int) -> int:
    """The last second of the card's expiry month (UTC), as a unix time: the token's `expired_at`."""
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(next_month.timestamp()) - 1


def token_entity(token: RzpToken) -> dict[str, Any]:
    """A saved card as GET /v1/customers/{id}/tokens shows it (docs: api/tokens/entity)."""
    return {
        "id": token.rzp_id,
        "entity": "token",
        "token": token.token,
        "bank": None,
        "wallet": None,
        "method": token.method,
        "card": {
            "entity": "card",
            "name": token.card_name,
            "last4": token.card_last4,
            "network": token.card_network,
            "type": token.card_type,
            "issuer": token.card_issuer or None,
            "international": token.international,
            "emi": False,
            "sub_type": "consumer",
            "expiry_month": token.expiry_month,
            "expiry_year": token.expiry_year,
            "flows": {"recurring": True},
        },
        "recurring": token.recurring,
        "recurring_details": {"status": "confirmed", "failure_reason": None},
        "auth_type": None,
        "mrn": None,
        "used_at": unix(token.used_at),
        "created_at": unix(token.created_at),
        "expired_at": card_expires_at(token.expiry_month, token.expiry_year),
        "status": "active",
        "notes": [],
        "compliant_with_tokenisation_guidelines": True,
    }


def refund_entity(refund: RzpRefund) -> dict[str, Any]:
    return {
        "id": refund.rzp_id,
        "entity": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "payment_id": refund.payment.rzp_id,
        "notes": _notes(refund.notes),
        "receipt": refund.receipt,
        "acquirer_data": {"arn": None},
        "created_at": unix(refund.created_at),
        "batch_id": None,
        "status": refund.status,
        "speed_processed": refund.speed_processed or None,
        "speed_requested": refund.speed_requested,
    }


def settlement_entity(settlement: RzpSettlement) -> dict[str, Any]:
    return {
        "id": settlement.rzp_id,
        "entity": "settlement",
        "amount": settlement.amount,
        "status": settlement.status,
        "fees": settlement.fees,
        "tax": settlement.tax,
        "utr": settlement.utr,
        "created_at": unix(settlement.created_at),
    }


def settled_amount(payment: RzpPayment) -> int:
    """What a settlement credits for the payment: its amount, unless a discrepancy was injected."""
    return payment.amount if payment.settle_amount is None else payment.settle_amount


def _notes_text(notes: Any) -> str | None:
    # The settlement report carries notes as text, not as an object: the sandbox writes them as JSON.
    return json.dumps(notes, separators=(",", ":"), sort_keys=True) if notes else None


def _recon_item(
    *,
    entity_id: str,
    kind: str,
    amount: int,
    credit: int,
    debit: int,
    fee: int,
    tax: int,
    payment: RzpPayment,
    settlement: RzpSettlement,
    created_at: datetime,
    notes: Any,
    payment_id: str | None,
) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "type": kind,
        "debit": debit,
        "credit": credit,
        "amount": amount,
        "currency": payment.currency,
        "fee": fee,
        "tax": tax,
        "on_hold": False,
        "settled": True,
        "created_at": unix(created_at),
        "settled_at": unix(settlement.created_at),
        "settlement_id": settlement.rzp_id,
        "posted_at": None,
        "credit_type": "default",
        "description": None,
        "notes": _notes_text(notes),
        "payment_id": payment_id,
        "settlement_utr": settlement.utr,
        "order_id": payment.order.rzp_id,
        "order_receipt": payment.order.receipt,
        "method": payment.method,
        "card_network": payment.card_network or None,
        "card_issuer": None,
        "card_type": payment.card_type or None,
        "dispute_id": None,
    }


def recon_payment_item(payment: RzpPayment, settlement: RzpSettlement) -> dict[str, Any]:
    """A settled payment in the settlement report: credited less its fee (which includes the GST)."""
    amount, fee = settled_amount(payment), payment.fee or 0
    return _recon_item(
        entity_id=payment.rzp_id, kind="payment", amount=amount, credit=amount - fee, debit=0, fee=fee,
        tax=payment.tax or 0, payment=payment, settlement=settlement, created_at=payment.created_at,
        notes=payment.notes, payment_id=None,
    )  # fmt: skip


def recon_refund_item(refund: RzpRefund, settlement: RzpSettlement) -> dict[str, Any]:
    """A settled refund in the settlement report: debited in full, no fee."""
    return _recon_item(
        entity_id=refund.rzp_id, kind="refund", amount=refund.amount, credit=0, debit=refund.amount, fee=0, tax=0,
        payment=refund.payment, settlement=settlement, created_at=refund.created_at, notes=refund.notes,
        payment_id=refund.payment.rzp_id,
    )  # fmt: skip


def collection(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rendered = list(items)
    return {"entity": "collection", "count": len(rendered), "items": rendered}
