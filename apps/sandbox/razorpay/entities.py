"""One rendering function per entity, shared by the API responses and the webhook payloads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apps.sandbox.models import RzpOrder, RzpPayment, RzpRefund


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
    }


def payment_entity(payment: RzpPayment) -> dict[str, Any]:
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
        "description": None,
        "card_id": payment.card_id or None,
        "card": card if payment.card_id else None,
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": payment.email,
        "contact": payment.contact,
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


def collection(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rendered = list(items)
    return {"entity": "collection", "count": len(rendered), "items": rendered}
