from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.command_args import LARGEST, day_arg
from apps.gateways.errors import GatewayError
from apps.gateways.models import GatewayAccount
from apps.reconciliation.services import reconcile


class Command(BaseCommand):
    help = (
        "Import one day's settlements of a gateway account and match them against the ledger "
        "(what the daily beat task does). Safe to run again: nothing is imported or opened twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="Gateway account public id (gwa_...) or numeric id")
        parser.add_argument("--date", type=day_arg, help="The settlement day, YYYY-MM-DD (UTC); default yesterday")
        parser.add_argument("--no-fetch", action="store_true", help="Only match lines already imported")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["account"]
        numeric = key.isascii() and key.isdigit() and int(key) <= LARGEST
        account = GatewayAccount.objects.filter(Q(public_id=key) | (Q(pk=int(key)) if numeric else Q())).first()
        if account is None:
            raise CommandError(f"No gateway account {key!r}: give its public id (gwa_…) or its numeric id")
        day: date = options["date"] or timezone.now().date() - timedelta(days=1)
        try:
            report = reconcile(
                account=account, day=day, actor=Actor.system("reconcile command"), fetch=not options["no_fetch"]
            )
        except GatewayError as exc:
            raise CommandError(f"The gateway could not be asked: {exc}") from exc
        self.stdout.write(report.summary())
