from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.sandbox.stripe.services import TRIGGERS, TriggerError, stripe_account_resolve, stripe_trigger


class Command(BaseCommand):
    help = (
        "Stripe sandbox: fire an event the way `stripe trigger` does, by making the real objects "
        "(a PaymentIntent confirmed with pm_card_visa, refunded, disputed ...). Supported: "
        + ", ".join(sorted(TRIGGERS))
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event", help="The event to fire, e.g. payment_intent.succeeded")
        parser.add_argument("--account", help="The sandbox account: acct_… or its secret key (default: the only one)")
        parser.add_argument(
            "--payment-intent",
            dest="intent_id",
            help="Carry this existing PaymentIntent to the event instead of making a new one "
            "(succeeded, payment_failed, canceled, charge.captured, charge.refunded, charge.dispute.created)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = stripe_account_resolve(options["account"])
            triggered = stripe_trigger(account, options["event"], intent_id=options["intent_id"])
        except TriggerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Fixture for {options['event']} on {account.stripe_id}: {TRIGGERS[options['event']][0]}")
        for kind, object_id, status in triggered.objects:
            self.stdout.write(f"  {kind} {object_id}" + (f" ({status})" if status else ""))
        self.stdout.write("Trigger succeeded! Events fired:")
        for event in triggered.events:
            self.stdout.write(f"  {event.stripe_id} {event.type}")
