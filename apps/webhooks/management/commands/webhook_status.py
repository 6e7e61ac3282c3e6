from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count

from apps.core.command_args import positive_int_arg
from apps.webhooks.models import IncomingWebhook

S = IncomingWebhook.Status


class Command(BaseCommand):
    help = "Incoming gateway webhooks: counts by status, then the pending, failed or dead ones listed."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--pending", action="store_true", help="list those received and not yet processed")
        which.add_argument("--failed", action="store_true", help="list those failing and waiting for a retry")
        which.add_argument("--dead", action="store_true", help="list those whose retries ran out")
        parser.add_argument("--limit", type=positive_int_arg, default=50, help="List at most this many (default 50)")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = dict(IncomingWebhook.objects.values_list("status").annotate(n=Count("id")).order_by())
        self.stdout.write("  ".join(f"{status}: {counts.get(status, 0)}" for status in S.values))
        wanted = (
            S.RECEIVED if options["pending"] else S.FAILED if options["failed"] else S.DEAD if options["dead"] else None
        )
        if wanted is None:
            return
        rows = IncomingWebhook.objects.filter(status=wanted).order_by("received_at")[: options["limit"]]
        for row in rows:
            retry = f" next {row.next_attempt_at:%Y-%m-%d %H:%M:%S}" if row.next_attempt_at else ""
            self.stdout.write(
                f"{row.public_id}  {row.gateway}  {row.event_type}  {row.event_id}  received "
                f"{row.received_at:%Y-%m-%d %H:%M:%S}  attempts {row.attempts}{retry}"
            )
            if row.last_error:
                self.stdout.write(f"    {row.last_error[:200]}")
