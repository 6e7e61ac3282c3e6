from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain and report the first broken link (exit 1 if broken)."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if report.first_break is not None:
            raise CommandError(
                f"Audit chain BROKEN at event {report.first_break.event_id}: {report.first_break.reason} "
                f"({report.checked} events verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain OK: {report.checked} events verified"))
