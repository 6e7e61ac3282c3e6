from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.command_args import positive_int_arg, positive_seconds_arg, seconds_arg
from apps.sandbox.stripe.services import (
    ListenTimedOut,
    TriggerError,
    stripe_account_resolve,
    stripe_listen,
    stripe_listen_endpoint,
)


class Command(BaseCommand):
    help = (
        "Stripe sandbox: print the account's events as they are made, as `stripe listen` does; with "
        "--forward-to, register (or reuse) a webhook endpoint for that URL and print each delivery's answer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="The sandbox account: acct_… or its secret key (default: the only one)")
        parser.add_argument("--forward-to", dest="forward_to", help="Deliver the events to this URL (signed)")
        parser.add_argument(
            "--events", default="*", help="Comma-separated event types to listen to (default: every event)"
        )
        stop = parser.add_mutually_exclusive_group()
        stop.add_argument(
            "--limit", type=positive_int_arg, help="Stop after this many events (and their deliveries' answers)"
        )
        stop.add_argument("--once", action="store_const", const=1, dest="limit", help="Stop after one event")
        parser.add_argument("--timeout", type=seconds_arg, help="Stop after this many seconds")
        parser.add_argument(
            "--interval", type=positive_seconds_arg, default=0.2, help="Seconds between looks (default 0.2)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        events = [name.strip() for name in options["events"].split(",") if name.strip()] or ["*"]
        try:
            account = stripe_account_resolve(options["account"])
        except TriggerError as exc:
            raise CommandError(str(exc)) from exc
        endpoint = None
        if options["forward_to"]:
            endpoint, created = stripe_listen_endpoint(account=account, url=options["forward_to"], events=events)
            self.stdout.write(
                f"{'Registered' if created else 'Reusing'} webhook endpoint {endpoint.stripe_id} for "
                f"{endpoint.url} on {account.stripe_id}"
            )
            self.stdout.write(f"> Ready! Your webhook signing secret is {endpoint.secret} (^C to quit)")
        else:
            self.stdout.write(f"> Ready! Listening to {account.stripe_id} (^C to quit)")
        self.stdout.flush()
        lines = stripe_listen(
            account=account,
            endpoint=endpoint,
            events=events,
            limit=options["limit"],
            timeout=options["timeout"],
            interval=options["interval"],
        )
        try:
            for line in lines:
                self.stdout.write(line)
                self.stdout.flush()
        except ListenTimedOut as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
