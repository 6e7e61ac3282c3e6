from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.sandbox.models import AnetAccount, AnetTransaction, StripeAccount, StripeBalanceTransaction
from apps.sandbox.services import SETTLEMENT_DISCREPANCIES, anet_settlement_discrepancy
from apps.sandbox.stripe.payouts import intent_of, unpaid_charges
from apps.sandbox.stripe.services import stripe_settlement_discrepancy


class Command(BaseCommand):
    help = (
        "Authorize.Net or Stripe sandbox: make the next settlement (Stripe: payout) disagree with our books (for "
        "the demo and for rehearsing the discrepancy queue). Then run sandbox_settle and reconcile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=SETTLEMENT_DISCREPANCIES)
        parser.add_argument(
            "--account", required=True, help="The sandbox account: an Authorize.Net API login id or a Stripe acct_…"
        )
        parser.add_argument(
            "--trans-id",
            default="",
            help="The transaction (missing, amount; Stripe: a pi_… or ch_…); default: the latest",
        )
        parser.add_argument("--amount", type=int, help="Minor units (amount: what settles; unknown: the charge)")

    def handle(self, *args: Any, **options: Any) -> None:
        account = AnetAccount.objects.filter(api_login_id=options["account"]).first()
        stripe = StripeAccount.objects.filter(stripe_id=options["account"]).first() if account is None else None
        if account is None and stripe is None:
            raise CommandError(f"No sandbox account {options['account']!r}")
        trans_id = options["trans_id"]
        if options["kind"] in {"missing", "amount"} and not trans_id:
            trans_id = self._latest(account, stripe)
        try:
            if stripe is not None:
                stripe_settlement_discrepancy(
                    account=stripe,
                    kind=options["kind"],
                    transaction_id=trans_id,
                    amount=options["amount"],
                    actor=Actor.system("sandbox_discrepancy"),
                )
            elif account is not None:
                anet_settlement_discrepancy(
                    account=account,
                    kind=options["kind"],
                    trans_id=trans_id,
                    amount=options["amount"],
                    actor=Actor.system("sandbox_discrepancy"),
                )
        except (AnetTransaction.DoesNotExist, StripeBalanceTransaction.DoesNotExist) as exc:
            raise CommandError(f"No unsettled transaction {trans_id} at {account or stripe}") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Injected {options['kind']} {trans_id}".rstrip() + "; now run sandbox_settle, then reconcile."
        )

    @staticmethod
    def _latest(account: AnetAccount | None, stripe: StripeAccount | None) -> str:
        if stripe is not None:
            charge = unpaid_charges(stripe).filter(held_from_settlement=False).first()
            if charge is None:
                raise CommandError("No captured charge not yet paid out to change; make a payment first.")
            return intent_of(charge)
        latest = (
            AnetTransaction.objects.filter(account=account, status="capturedPendingSettlement", batch__isnull=True)
            .order_by("-pk")
            .first()
        )
        if latest is None:
            raise CommandError("No captured, unsettled transaction to change; make a payment first.")
        return latest.trans_id
