from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Q, QuerySet, Sum

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events_for_targets
from apps.core.errors import NotFoundError
from apps.core.references import reference_is_fresh
from apps.gateways.base import Gateway
from apps.ledger.models import REFUND_REVERSED_MEMO, EntryKind
from apps.merchants.models import Merchant

from .models import GatewayTransaction, Payment, PaymentStatus, Refund


def payment_list(*, merchant: Merchant, customer: str | None = None) -> QuerySet[Payment]:
    """The merchant's payments; `customer` (a public id): only that customer's (a customer session)."""
    payments = Payment.objects.filter(merchant=merchant).select_related("customer", "gateway_account")
    return payments if customer is None else payments.filter(customer__public_id=customer)


def payment_get(*, merchant: Merchant, public_id: str, customer: str | None = None) -> Payment:
    try:
        return payment_list(merchant=merchant, customer=customer).get(public_id=public_id)
    except Payment.DoesNotExist as exc:
        raise NotFoundError(f"No such payment: {public_id!r}.", param="id") from exc


def payment_find(*, identifier: str) -> Payment:
    """Staff lookup (any merchant) by public id, gateway transaction id or merchant reference."""
    queryset = Payment.objects.select_related("merchant", "customer", "gateway_account")
    payment = (
        queryset.filter(public_id=identifier).first()
        or queryset.filter(gateway_transaction_id=identifier).first()
        or queryset.filter(reference=identifier).order_by("-id").first()
    )
    if payment is None:
        raise NotFoundError(f"No payment matches {identifier!r}.")
    return payment


def payment_audit_trail(*, payment: Payment) -> list[AuditEvent]:
    """The audit events of a payment and of its refunds in one timeline, oldest first (review
    decisions are events of the payment itself)."""
    refund_ids = payment.refunds.values_list("public_id", flat=True)
    return audit_events_for_targets(targets={"payments.payment": [payment.public_id], "payments.refund": refund_ids})


def refund_list(*, merchant: Merchant, customer: str | None = None) -> QuerySet[Refund]:
    refunds = Refund.objects.filter(merchant=merchant).select_related("payment")
    return refunds if customer is None else refunds.filter(payment__customer__public_id=customer)


def refund_get(*, merchant: Merchant, public_id: str, customer: str | None = None) -> Refund:
    try:
        return refund_list(merchant=merchant, customer=customer).get(public_id=public_id)
    except Refund.DoesNotExist as exc:
        raise NotFoundError(f"No such refund: {public_id!r}.", param="id") from exc


def gateway_transactions_for(*, payment: Payment) -> QuerySet[GatewayTransaction]:
    return payment.gateway_transactions.select_related("refund").order_by("id")


def earlier_calls(reference: str, *, kinds: Iterable[str]) -> list[GatewayTransaction]:
    """The calls already made for this request, oldest first ([] without a reference, and
    without a query for a reference this very request minted: apps.core.references)."""
    if not reference or reference_is_fresh(reference):
        return []
    return list(
        GatewayTransaction.objects.filter(reference__startswith=f"{reference}a", kind__in=list(kinds))
        .select_related("payment", "gateway_account", "refund")
        .order_by("id")
    )


def payments_disagreeing_with_ledger(limit: int) -> list[str]:
    """Payments whose captured and refunded amounts differ from what their entries say."""
    captured = Sum("journal_entries__amount", filter=Q(journal_entries__kind=EntryKind.CAPTURE), default=0) - Sum(
        "journal_entries__amount", filter=Q(journal_entries__kind=EntryKind.CAPTURE_REVERSAL), default=0
    )
    refunded = Sum("journal_entries__amount", filter=Q(journal_entries__kind=EntryKind.REFUND), default=0) - Sum(
        "journal_entries__amount",
        filter=Q(journal_entries__kind=EntryKind.ADJUSTMENT, journal_entries__memo=REFUND_REVERSED_MEMO),
        default=0,
    )
    rows = (
        Payment.objects.annotate(ledger_captured=captured, ledger_refunded=refunded)
        .exclude(ledger_captured=F("amount_captured"), ledger_refunded=F("amount_refunded"))
        .values_list("public_id", "amount_captured", "ledger_captured", "amount_refunded", "ledger_refunded")[:limit]
    )
    return [
        f"payment {pid}: captured {cap} but the ledger says {lcap}; refunded {ref} but the ledger says {lref}"
        for pid, cap, lcap, ref, lref in rows
    ]


def payment_void_refusal(payment: Payment, gateway: Gateway) -> tuple[str, str] | None:
    """Why `payment` cannot be voided now, as (code, sentence), or None if a void can succeed:
    the admin offers the action only then, and the void service refuses with the same words."""
    if payment.status not in {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED}:
        return (
            "payment_invalid_state",
            f"Only authorized or captured payments can be voided; this one is {payment.status}.",
        )
    if payment.amount_refunded or payment.amount_refund_pending:
        return "payment_invalid_state", "A payment with refunds cannot be voided: refund the rest instead."
    name = payment.gateway_account.get_gateway_display()
    if not gateway.supports_void:
        return "void_not_supported", f"{name} cannot void a payment: refund it instead."
    if payment.status == PaymentStatus.CAPTURED:
        if not gateway.voids_captures:
            return "void_not_supported", f"{name} cannot void a captured payment: refund it instead."
        if payment.journal_entries.filter(settlement_lines__isnull=False).exists():
            return "payment_already_settled", "The payment has settled at the gateway: refund it instead."
    return None
