from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.selectors import audit_chain_verify

EXPECT = re.compile(r"^(\d+):([0-9a-f]{64})$")


class Command(BaseCommand):
    help = (
        "Recompute every audit hash chain, check the signed checkpoints, and report the first broken link "
        "(exit 1 if broken)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect",
            metavar="ID:SIGNATURE",
            help="a checkpoint as the log recorded it ('audit checkpoint N signed'): it must still be here",
        )
        parser.add_argument(
            "--stale-after",
            type=float,
            metavar="SECONDS",
            help="events this old must be signed by a checkpoint (default: 3 x AUDIT_CHECKPOINT_SECONDS; 0: off)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = None
        if options["expect"]:
            match = EXPECT.match(options["expect"])
            if match is None:
                raise CommandError("--expect takes ID:SIGNATURE (a number, a colon, 64 hex digits)")
            expected = (int(match[1]), match[2])
        seconds = options["stale_after"]
        seconds = 3 * settings.AUDIT_CHECKPOINT_SECONDS if seconds is None else seconds
        stale_after = timedelta(seconds=seconds) if seconds > 0 else None
        report = audit_chain_verify(stale_after=stale_after, expected=expected)
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
