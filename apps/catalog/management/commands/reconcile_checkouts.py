from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.catalog.services import checkout_reconcile
from apps.core.command_args import positive_int_arg


class Command(BaseCommand):
    help = (
        "Chase open Razorpay checkouts at the gateway now (what Celery beat does every minute): complete "
        "the paid ones, expire the unpaid ones past their expiry. Safe to run at any time, also twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=positive_int_arg, default=1000, help="At most this many checkouts (default 1000)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = checkout_reconcile(limit=options["limit"])
        self.stdout.write(
            f"checked {counts['checked']}: completed {counts['completed']}, expired {counts['expired']}, "
            f"gateway errors {counts['errors']}"
        )
