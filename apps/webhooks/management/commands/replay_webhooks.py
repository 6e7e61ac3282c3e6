from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet

from apps.audit.actors import Actor
from apps.core.command_args import moment_arg
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhooks_replay

S = IncomingWebhook.Status


class Command(BaseCommand):
    help = "Process stored gateway webhooks again (processing is idempotent). Pick them by id or status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ids", nargs="+", default=[], help="whin_ ids (or gateway event ids)")
        parser.add_argument("--failed", action="store_true", help="those failing and waiting for a retry")
        parser.add_argument("--dead", action="store_true", help="those whose retries ran out")
        parser.add_argument(
            "--since",
            type=moment_arg,
            help="only those received at or after (ISO date or date-time; UTC unless it says)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would be replayed")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["ids"] or options["failed"] or options["dead"] or options["since"]):
            raise CommandError("Say which: --ids, --failed, --dead and/or --since.")
        queryset: QuerySet[IncomingWebhook] = IncomingWebhook.objects.order_by("received_at")
        if options["ids"]:
            queryset = queryset.filter(Q(public_id__in=options["ids"]) | Q(event_id__in=options["ids"]))
        statuses = [status for flag, status in (("failed", S.FAILED), ("dead", S.DEAD)) if options[flag]]
        if statuses:
            queryset = queryset.filter(status__in=statuses)
        if options["since"]:
            queryset = queryset.filter(received_at__gte=options["since"])
        rows = list(queryset)
        for row in rows:
            self.stdout.write(f"{row.public_id}  {row.event_type}  {row.status}  attempts {row.attempts}")
        if options["dry_run"]:
            self.stdout.write(f"{len(rows)} would be replayed.")
            return
        count = incoming_webhooks_replay(webhooks=rows, actor=Actor.system("replay_webhooks command"))
        self.stdout.write(self.style.SUCCESS(f"{count} webhook(s) queued for processing again."))
