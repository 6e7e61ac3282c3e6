from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.security_audit import records_delete
from apps.audit.actors import Actor


class Command(BaseCommand):
    help = (
        "Unlock a staff user locked out by failed logins (django-axes): clears their failure records, "
        "each audited as staff.login_failures_cleared. Use it rather than axes_reset*, which audit nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--ip", default="", help="Only the failures from this address")

    def handle(self, *args: Any, **options: Any) -> None:
        attempts = AccessAttempt.objects.filter(username=options["username"])
        if options["ip"]:
            attempts = attempts.filter(ip_address=options["ip"])
        records = list(attempts.order_by("pk"))
        if not records:
            raise CommandError(f"No failed logins recorded for {options['username']!r}: nothing to unlock.")
        cleared = records_delete(records=records, actor=Actor.system("staff_unlock"))
        self.stdout.write(f"Unlocked {options['username']}: {cleared} failure record(s) cleared (audited).")
