from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apps.core.command_args import moment_arg
from apps.sandbox.authorizenet.arb import arb_run


class Command(BaseCommand):
    help = (
        "Authorize.Net sandbox: run ARB's schedule as of --as-of (default now), charging every subscription "
        "payment due by then, once each, and sending its webhooks (the real service does this daily)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=moment_arg, help="ISO 8601 date or time (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or timezone.now()
        self.stdout.write(f"ARB payments charged: {arb_run(as_of=as_of)}")
