from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.sandbox.authorizenet.arb import arb_run


class Command(BaseCommand):
    help = (
        "Authorize.Net sandbox: run ARB's schedule as of --as-of (default now), charging every subscription "
        "payment due by then, once each, and sending its webhooks (the real service does this daily)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", help="ISO 8601 date or time (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = timezone.now()
        if options["as_of"]:
            try:
                as_of = datetime.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError(f"--as-of must be ISO 8601, not {options['as_of']!r}") from exc
            if timezone.is_naive(as_of):
                as_of = timezone.make_aware(as_of)
        self.stdout.write(f"ARB payments charged: {arb_run(as_of=as_of)}")
