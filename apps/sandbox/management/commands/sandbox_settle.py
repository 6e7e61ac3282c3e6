from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.sandbox.models import AnetAccount
from apps.sandbox.services import anet_settle


class Command(BaseCommand):
    help = "Authorize.Net sandbox: settle captured transactions and pending refunds into a batch (the nightly cutoff)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="API login id of one sandbox account (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        account = None
        if options["account"]:
            account = AnetAccount.objects.filter(api_login_id=options["account"]).first()
            if account is None:
                raise CommandError(f"No sandbox account {options['account']!r}")
        batches = anet_settle(account=account, actor=Actor.system("sandbox_settle"))
        if not batches:
            self.stdout.write("Nothing to settle.")
        for batch in batches:
            self.stdout.write(
                f"Settled batch {batch.batch_id} for {batch.account}: {batch.transactions.count()} transactions"
            )
