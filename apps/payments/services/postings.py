"""What a payment's change posts to the ledger, in the transaction that makes the change: captured
money is owed by the gateway (receivable) against sales; refunded money leaves the receivable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.ledger.models import REFUND_REVERSED_MEMO, AccountKind, EntryKind
from apps.ledger.services import EntrySpec, ledger_post_many
from apps.payments.models import Payment, Refund


def payment_movements(
    payment: Payment, before: dict[str, Any] | None, *, refund: Refund | None = None
) -> list[EntrySpec]:
    """The entries for what changed on a payment between `before` (a snapshot, None for a new
    row) and now: captured money is owed by the gateway (receivable) against sales; refunded
    money leaves the receivable."""
    before = before or {}
    captured = payment.amount_captured - int(before.get("amount_captured") or 0)
    refunded = payment.amount_refunded - int(before.get("amount_refunded") or 0)
    common: dict[str, Any] = {
        "gateway_account_id": payment.gateway_account_id,
        "currency": payment.currency,
        "payment_id": payment.pk,
    }
    specs = []
    if captured > 0:
        specs.append(
            EntrySpec(
                kind=EntryKind.CAPTURE,
                amount=captured,
                lines=((AccountKind.RECEIVABLE, captured), (AccountKind.SALES, -captured)),
                gateway_transaction_id=payment.gateway_transaction_id,
                **common,
            )
        )
    elif captured < 0:
        specs.append(
            EntrySpec(
                kind=EntryKind.CAPTURE_REVERSAL,
                amount=-captured,
                lines=((AccountKind.SALES, -captured), (AccountKind.RECEIVABLE, captured)),
                gateway_transaction_id=payment.gateway_transaction_id,
                **common,
            )
        )
    if refunded:
        specs.append(
            EntrySpec(
                kind=EntryKind.REFUND if refunded > 0 else EntryKind.ADJUSTMENT,
                amount=abs(refunded),
                lines=((AccountKind.REFUNDS, refunded), (AccountKind.RECEIVABLE, -refunded)),
                refund_id=refund.pk if refund is not None else None,
                gateway_transaction_id=refund.gateway_transaction_id if refund is not None else "",
                memo="" if refunded > 0 else REFUND_REVERSED_MEMO,
                **common,
            )
        )
    return specs


def ledger_record_payment(payment: Payment, before: dict[str, Any] | None, *, refund: Refund | None = None) -> None:
    ledger_post_many(payment_movements(payment, before, refund=refund))


def ledger_record_payments(changes: Iterable[tuple[Payment, dict[str, Any] | None]]) -> None:
    ledger_post_many([spec for payment, before in changes for spec in payment_movements(payment, before)])
