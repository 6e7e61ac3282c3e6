from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute every audit hash chain, check the signed checkpoints, and report the first broken link "
        "(exit 1 if broken)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        broken = report.first_break
        if broken is not None:
            where = [f"checkpoint {broken.checkpoint_id}"] if broken.checkpoint_id is not None else []
            where += [f"event {broken.event_id}"] if broken.event_id is not None else []
            raise CommandError(
                f"Audit chain BROKEN at {', '.join(where)}: {broken.reason} "
                f"({report.checked} events verified before it)"
            )
        signed = f"latest checkpoint {report.checkpoint_id} matches" if report.checkpoint_id else "no checkpoint yet"
        self.stdout.write(
            self.style.SUCCESS(f"Audit chain OK: {report.checked} events verified in {report.chains} chains, {signed}")
        )
