from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.sandbox.authorizenet.echeck import RETURN_REASONS, NotReturnable
from apps.sandbox.models import AnetAccount, AnetTransaction
from apps.sandbox.services import anet_return


class Command(BaseCommand):
    help = (
        "Authorize.Net sandbox: return a settled eCheck (bank account) debit with a NACHA return code, as the "
        "customer's bank would days after settlement. The return lands in an eCheck batch settled now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trans_id", help="The debit's transaction id")
        parser.add_argument("--code", default="R01", help=f"NACHA return code: {', '.join(RETURN_REASONS)}")

    def handle(self, *args: Any, **options: Any) -> None:
        pk = AnetTransaction.pk_from_trans_id(options["trans_id"])
        stored = AnetTransaction.objects.select_related("account").filter(pk=pk).first() if pk else None
        if stored is None:
            raise CommandError(f"No sandbox transaction {options['trans_id']!r}")
        account: AnetAccount = stored.account
        try:
            returned = anet_return(
                account=account, trans_id=stored.trans_id, code=options["code"], actor=Actor.system("sandbox_return")
            )
        except NotReturnable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Returned {returned.trans_id} ({returned.return_code} {returned.return_description}) "
            f"in batch {returned.return_batch.batch_id if returned.return_batch else '-'}"
        )
