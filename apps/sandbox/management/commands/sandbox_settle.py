from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.core.money import format_amount
from apps.sandbox.models import AnetAccount, StripeAccount, StripeBalanceTransaction
from apps.sandbox.services import anet_settle
from apps.sandbox.stripe.services import stripe_payout_run


class Command(BaseCommand):
    help = (
        "Gateway sandboxes: settle. Authorize.Net: captured transactions and pending refunds into a batch (the "
        "nightly cutoff). Stripe: the balance not yet paid out into a payout per currency (the payout schedule)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", help="One sandbox account: an Authorize.Net API login id or a Stripe acct_… (default: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("sandbox_settle")
        anet: AnetAccount | None = None
        stripe: StripeAccount | None = None
        if options["account"]:
            anet = AnetAccount.objects.filter(api_login_id=options["account"]).first()
            stripe = StripeAccount.objects.filter(stripe_id=options["account"]).first() if anet is None else None
            if anet is None and stripe is None:
                raise CommandError(f"No sandbox account {options['account']!r}")
        batches = anet_settle(account=anet, actor=actor) if stripe is None else []
        payouts = stripe_payout_run(account=stripe, actor=actor) if anet is None else []
        if not batches and not payouts:
            self.stdout.write("Nothing to settle.")
        for batch in batches:
            self.stdout.write(
                f"Settled batch {batch.batch_id} for {batch.account}: {batch.transactions.count()} transactions"
            )
        for payout in payouts:
            carried = StripeBalanceTransaction.objects.filter(payout_id=payout.stripe_id).exclude(type="payout")
            paid = format_amount(payout.amount, payout.currency.upper())
            self.stdout.write(
                f"Paid out {payout.stripe_id} for {payout.account}: {paid}, {carried.count()} transactions"
            )
