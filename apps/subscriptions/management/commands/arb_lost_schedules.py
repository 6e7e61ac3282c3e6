from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.gateways.errors import GatewayError
from apps.subscriptions.recurring_lost import (
    paused_without_schedule,
    recurring_lost_schedules,
    recurring_lost_schedules_stop,
)


class Command(BaseCommand):
    help = (
        "Find the gateway (ARB) schedules still running under paused gateway-run subscriptions that hold "
        "no schedule id (paused while their create's answer was lost); with --cancel, cancel them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cancel", action="store_true", help="cancel what is found (audited)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("arb_lost_schedules")
        found = failed = 0
        for subscription in paused_without_schedule().iterator():
            try:
                if options["cancel"]:
                    schedules = recurring_lost_schedules_stop(subscription, actor=actor)
                else:
                    schedules = recurring_lost_schedules(subscription)
            except GatewayError as exc:
                failed += 1
                self.stderr.write(f"{subscription.public_id}  gateway error: {exc.message}")
                continue
            for schedule in schedules:
                found += 1
                done = "cancelled" if options["cancel"] else "running (--cancel to cancel it)"
                self.stdout.write(f"{subscription.public_id}  ARB subscription {schedule}  {done}")
        self.stdout.write(f"{found} lost schedule(s) {'cancelled' if options['cancel'] else 'found'}.")
        if failed:
            raise CommandError(f"{failed} subscription(s) could not be checked: run the command again.")
