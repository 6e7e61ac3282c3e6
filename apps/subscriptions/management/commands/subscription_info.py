from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.money import format_amount
from apps.subscriptions import selectors


class Command(BaseCommand):
    help = (
        "Show a subscription (sub_…) or every subscription of a customer (cus_… or an email): status, "
        "period, next charge, card, and each invoice with its attempts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="sub_…, cus_… or a customer's email")

    def handle(self, *args: Any, **options: Any) -> None:
        subscriptions = selectors.subscriptions_for_identifier(identifier=options["identifier"])
        if not subscriptions:
            raise CommandError(f"No subscription matches {options['identifier']!r}.")
        for sub in subscriptions:
            self.stdout.write(f"{sub.public_id}  {sub.status}  {sub.plan}  ({sub.billing_mode})")
            self.stdout.write(f"  customer  {sub.customer.public_id} {sub.customer}")
            self.stdout.write(f"  card      {sub.payment_method} ({sub.payment_method.public_id})")
            self.stdout.write(
                f"  period    {sub.current_period_start:%Y-%m-%d %H:%M} to {sub.current_period_end:%Y-%m-%d %H:%M}"
            )
            next_charge = f"{sub.next_billing_at:%Y-%m-%d %H:%M}" if sub.next_billing_at else "-"
            self.stdout.write(
                f"  next      {next_charge}{'  (cancels at period end)' if sub.cancel_at_period_end else ''}"
            )
            if sub.pending_plan_id or sub.pending_payment_method_id:
                self.stdout.write(
                    f"  pending   plan {sub.pending_plan or '-'}; card {sub.pending_payment_method or '-'}"
                )
            if sub.gateway_subscription_id:
                self.stdout.write(f"  gateway   ARB subscription {sub.gateway_subscription_id}")
            if sub.ended_at:
                self.stdout.write(f"  ended     {sub.ended_at:%Y-%m-%d %H:%M} ({sub.cancellation_reason})")
            for invoice in selectors.invoices_for(subscription=sub):
                amount = format_amount(invoice.amount, invoice.currency)
                self.stdout.write(
                    f"  {invoice.public_id}  {invoice.period_start:%Y-%m-%d}..{invoice.period_end:%Y-%m-%d}  "
                    f"{amount}  {invoice.status}"
                )
                for attempt in invoice.attempts.all():
                    failure = f" {attempt.failure_code}" if attempt.failure_code else ""
                    self.stdout.write(
                        f"      attempt {attempt.number}  {attempt.created_at:%Y-%m-%d %H:%M}  "
                        f"{attempt.status}{failure}  {attempt.payment.public_id}"
                    )
