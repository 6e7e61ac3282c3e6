from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.core.command_args import minor_units_arg
from apps.core.money import format_amount
from apps.sandbox.models import (
    AnetAccount,
    AnetTransaction,
    SandboxFault,
    StripeAccount,
    StripeBalanceTransaction,
    StripePaymentIntent,
)
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
        parser.add_argument(
            "--amount",
            type=minor_units_arg,
            help="Minor units, e.g. 900 for 9.00 USD (amount: what settles; unknown: the charge, default 4200)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = AnetAccount.objects.filter(api_login_id=options["account"]).first()
        stripe = StripeAccount.objects.filter(stripe_id=options["account"]).first() if account is None else None
        if account is None and stripe is None:
            raise CommandError(f"No sandbox account {options['account']!r}")
        trans_id = options["trans_id"]
        if options["kind"] in {"missing", "amount"} and not trans_id:
            trans_id = self._latest(account, stripe)
        settled_before = self._settle_amount(account, trans_id) if options["kind"] == "amount" else None
        injected: Any = None
        try:
            if stripe is not None:
                injected = stripe_settlement_discrepancy(
                    account=stripe,
                    kind=options["kind"],
                    transaction_id=trans_id,
                    amount=options["amount"],
                    actor=Actor.system("sandbox_discrepancy"),
                )
            elif account is not None:
                injected = anet_settlement_discrepancy(
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
            f"Injected {self._describe(options['kind'], injected, trans_id, settled_before)}; "
            "now run sandbox_settle, then reconcile."
        )

    @staticmethod
    def _settle_amount(account: AnetAccount | None, trans_id: str) -> int | None:
        """What an Authorize.Net transaction settles for now (a Stripe charge keeps its amount)."""
        if account is None:
            return None
        pk = AnetTransaction.pk_from_trans_id(trans_id) or 0
        return AnetTransaction.objects.filter(account=account, pk=pk).values_list("settle_amount", flat=True).first()

    @staticmethod
    def _describe(kind: str, injected: Any, trans_id: str, settled_before: int | None) -> str:
        """What the next settlement (Stripe: payout) will show that our books do not, with its money."""
        if isinstance(injected, SandboxFault):
            return "a misreported refund: the next refund goes through at the gateway but is answered as declined"
        if kind == "unknown":
            if isinstance(injected, StripePaymentIntent):
                what, amount = f"payment {injected.stripe_id}", injected.amount
            else:
                what, amount = f"transaction {injected.trans_id}", injected.settle_amount
            return f"an unknown charge: {what} of {format_amount(amount, injected.currency)}, which our books never saw"
        stripe = isinstance(injected, StripeBalanceTransaction)
        settlement = "payout" if stripe else "settlement"
        if kind == "missing":
            held = format_amount(injected.amount if stripe else injected.settle_amount, injected.currency)
            return f"a missing {settlement}: transaction {trans_id} of {held} is held out of the next {settlement}"
        before = injected.amount if stripe else settled_before
        instead = f" instead of {format_amount(before, injected.currency)}" if before is not None else ""
        return (
            f"an amount discrepancy: transaction {trans_id} goes into the next {settlement} for "
            f"{format_amount(injected.settle_amount, injected.currency)}{instead}"
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
