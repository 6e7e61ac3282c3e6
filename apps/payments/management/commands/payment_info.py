from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.payments.selectors import gateway_transactions_for, payment_audit_trail, payment_find


class Command(BaseCommand):
    help = (
        "Show a payment with its gateway calls, refunds and one audit trail of the payment and its refunds "
        "(by pay_ id, gateway id or reference)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("payment")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            payment = payment_find(identifier=options["payment"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

        def money(amount: int | None) -> str:
            return format_amount(amount or 0, payment.currency)

        write = self.stdout.write
        write(f"{payment.public_id}  {payment.get_status_display()}  merchant {payment.merchant.slug}")
        write(f"  amount {money(payment.amount)}  authorized {money(payment.amount_authorized)}  "
              f"captured {money(payment.amount_captured)}  refunded {money(payment.amount_refunded)}  "
              f"refund pending {money(payment.amount_refund_pending)}")  # fmt: skip
        write(f"  card {payment.card_brand} {payment.card_last4}  gateway {payment.gateway_account.gateway} "
              f"({payment.gateway_account.mode})  transaction {payment.gateway_transaction_id or '-'}")  # fmt: skip
        write(f"  reference {payment.reference or '-'}  customer {payment.customer.email if payment.customer else '-'}")
        if payment.failure_code:
            write(f"  failure {payment.failure_code}: {payment.failure_message}")
        write("Gateway calls:")
        for call in gateway_transactions_for(payment=payment):
            codes = f"{call.response_code}/{call.reason_code}"
            write(
                f"  {call.created_at:%Y-%m-%d %H:%M:%S} {call.kind:<9} {call.status:<9} {money(call.amount)} "
                f"ref {call.reference} txn {call.gateway_transaction_id or '-'} codes {codes} "
                f"{call.latency_ms or 0} ms {call.message}"
            )
        write("Refunds:")
        for refund in payment.refunds.order_by("id"):
            write(f"  {refund.public_id} {refund.status:<16} {money(refund.amount)} {refund.reason}")
        write("Audit trail (the payment's and its refunds'):")
        for event in payment_audit_trail(payment=payment):
            who = event.actor_label or event.actor_type
            write(
                f"  {event.occurred_at:%Y-%m-%d %H:%M:%S} {event.action:<28} {event.target_id:<28} {who} "
                f"{event.correlation_id}"
            )
