from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
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
        parser.add_argument("--date", help="The settlement day, YYYY-MM-DD (UTC); default yesterday")
        parser.add_argument("--no-fetch", action="store_true", help="Only match lines already imported")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["account"]
        lookup = Q(public_id=key) | (Q(pk=int(key)) if key.isdigit() else Q())
        account = GatewayAccount.objects.filter(lookup).first()
        if account is None:
            raise CommandError(f"No gateway account {key!r}")
        try:
            day = date.fromisoformat(options["date"]) if options["date"] else timezone.now().date() - timedelta(days=1)
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD: {exc}") from exc
        try:
            report = reconcile(
                account=account, day=day, actor=Actor.system("reconcile command"), fetch=not options["no_fetch"]
            )
        except GatewayError as exc:
            raise CommandError(f"The gateway could not be asked: {exc}") from exc
        self.stdout.write(report.summary())
