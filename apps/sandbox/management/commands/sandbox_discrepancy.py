from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.sandbox.models import AnetAccount, AnetTransaction
from apps.sandbox.services import SETTLEMENT_DISCREPANCIES, anet_settlement_discrepancy


class Command(BaseCommand):
    help = (
        "Authorize.Net sandbox: make the next settlement disagree with our books (for the demo and "
        "for rehearsing the discrepancy queue). Then run sandbox_settle and reconcile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=SETTLEMENT_DISCREPANCIES)
        parser.add_argument("--account", required=True, help="API login id of the sandbox account")
        parser.add_argument("--trans-id", default="", help="The transaction (missing, amount); default: the latest")
        parser.add_argument("--amount", type=int, help="Minor units (amount: what settles; unknown: the charge)")

    def handle(self, *args: Any, **options: Any) -> None:
        account = AnetAccount.objects.filter(api_login_id=options["account"]).first()
        if account is None:
            raise CommandError(f"No sandbox account {options['account']!r}")
        trans_id = options["trans_id"]
        if options["kind"] in {"missing", "amount"} and not trans_id:
            latest = (
                AnetTransaction.objects.filter(account=account, status="capturedPendingSettlement", batch__isnull=True)
                .order_by("-pk")
                .first()
            )
            if latest is None:
                raise CommandError("No captured, unsettled transaction to change; make a payment first.")
            trans_id = latest.trans_id
        try:
            anet_settlement_discrepancy(
                account=account,
                kind=options["kind"],
                trans_id=trans_id,
                amount=options["amount"],
                actor=Actor.system("sandbox_discrepancy"),
            )
        except AnetTransaction.DoesNotExist as exc:
            raise CommandError(f"No unsettled transaction {trans_id} at {account}") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Injected {options['kind']} {trans_id}".rstrip() + "; now run sandbox_settle, then reconcile."
        )
