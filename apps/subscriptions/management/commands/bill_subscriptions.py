from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apps.core.command_args import moment_arg, positive_int_arg
from apps.core.money import format_amount
from apps.subscriptions import billing


class Command(BaseCommand):
    help = (
        "Bill every subscription due at --as-of (default now) as if it were that time: renewals, dunning "
        "retries, cancellations at period end. What Celery beat does every minute; safe to run at any time, "
        "also alongside the workers (claims are exclusive). --dry-run lists what would happen and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=moment_arg, help="ISO 8601 time to bill at, e.g. 2026-12-01T00:00:00Z (default: now)"
        )
        parser.add_argument("--dry-run", action="store_true", help="List what is due; change nothing")
        parser.add_argument("--batch-size", type=positive_int_arg, default=None, help="Subscriptions claimed per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or timezone.now()
        if options["dry_run"]:
            rows = billing.billing_preview(as_of=as_of)
            for row in rows:
                sub = row.subscription
                amount = format_amount(row.amount, row.currency) if row.amount else "-"
                self.stdout.write(f"{sub.public_id}  {sub.status:<9} {row.action:<32} {amount}  ({sub.customer})")
            self.stdout.write(f"{len(rows)} due at {as_of.isoformat()} (dry run: nothing changed)")
            return
        summary = billing.billing_run(as_of=as_of, batch_size=options["batch_size"])
        counts = ", ".join(f"{name} {count}" for name, count in sorted(summary.outcomes.items())) or "nothing due"
        self.stdout.write(f"billed at {as_of.isoformat()}: {counts}")
