from __future__ import annotations

from itertools import groupby
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.gateways.errors import GatewayError
from apps.gateways.registry import recurring_gateway_for
from apps.subscriptions.errors import SubscriptionStateError
from apps.subscriptions.recurring import recurring_reference, resume_reference
from apps.subscriptions.recurring_lost import lost_schedules, recurring_lost_schedules_cancel
from apps.subscriptions.selectors import paused_without_schedule


class Command(BaseCommand):
    help = (
        "Find the gateway (ARB) schedules still running under paused gateway-run subscriptions that hold "
        "no schedule id (paused while their create's answer was lost); with --cancel, cancel them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cancel", action="store_true", help="cancel what is found (audited)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor, cancel = Actor.system("arb_lost_schedules"), options["cancel"]
        found = failed = 0
        for _, group in groupby(paused_without_schedule(), key=lambda subscription: subscription.gateway_account_id):
            subscriptions = list(group)
            try:
                listed = recurring_gateway_for(subscriptions[0].gateway_account).recurring_running()
            except GatewayError as exc:
                failed += len(subscriptions)
                names = " ".join(subscription.public_id for subscription in subscriptions)
                self.stderr.write(f"{names}  gateway error: {exc.message}")
                continue
            for subscription in subscriptions:
                resumed = lost_schedules(subscription, listed, references={resume_reference(subscription)})
                for schedule in resumed:
                    self.stdout.write(
                        f"{subscription.public_id}  ARB subscription {schedule}  running: made by a resume whose "
                        "answer was lost; resume the subscription again to adopt it"
                    )
                schedules = lost_schedules(subscription, listed, references={recurring_reference(subscription)})
                try:
                    if cancel and schedules:
                        recurring_lost_schedules_cancel(subscription, schedules, actor=actor)
                except GatewayError as exc:
                    failed += 1
                    self.stderr.write(f"{subscription.public_id}  gateway error: {exc.message}")
                    continue
                except SubscriptionStateError as exc:  # being resumed, or resumed since it was listed
                    failed += 1
                    self.stderr.write(f"{subscription.public_id}  not cancelled: {exc.message}")
                    continue
                for schedule in schedules:
                    found += 1
                    done = "cancelled" if cancel else "running (--cancel to cancel it)"
                    self.stdout.write(f"{subscription.public_id}  ARB subscription {schedule}  {done}")
        self.stdout.write(f"{found} lost schedule(s) {'cancelled' if cancel else 'found'}.")
        if failed:
            raise CommandError(f"{failed} subscription(s) could not be checked: run the command again.")
