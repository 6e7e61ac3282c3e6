from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.core.command_args import amount_from_major
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.payments.attempts import command_reference
from apps.payments.models import RefundStatus
from apps.payments.selectors import payment_find
from apps.payments.services import refund_create


class Command(BaseCommand):
    help = (
        "Refund a payment (by pay_ id, gateway transaction id or order reference). Amounts at or above "
        "the approval threshold wait for a finance approver, as in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("payment")
        parser.add_argument(
            "--amount", help="In major units of the payment's currency, e.g. 12.50 (default: all that is refundable)"
        )
        parser.add_argument("--reason", required=True)
        parser.add_argument(
            "--reference",
            default="",
            help="Your name for this refund (say, the ticket number): running the command again with the same "
            "reference, after a crash or a timeout, answers with the refund it made, never a second one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            payment = payment_find(identifier=options["payment"])
            amount = None
            if options["amount"] is not None:
                amount = amount_from_major(options["amount"], payment.currency, whose="the payment's")
            refund = refund_create(
                payment=payment,
                amount=amount,
                reason=options["reason"],
                actor=Actor.system("process_refund"),
                idempotency_reference=command_reference(payment.public_id, options["reference"]),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        money = format_amount(refund.amount, refund.currency)
        if refund.status == RefundStatus.PENDING_APPROVAL:
            self.stdout.write(f"Refund {refund.public_id} of {money} is waiting for approval in the admin.")
        else:
            self.stdout.write(f"Refund {refund.public_id} of {money}: {refund.status}.")
