from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError
from apps.merchants.models import ApiKeyKind, ApiMode
from apps.merchants.selectors import merchant_get_by_slug
from apps.merchants.services import api_key_create


class Command(BaseCommand):
    help = (
        "Issue a new API key for a merchant and print it: a secret key (shown only this once) or, with "
        "--kind publishable, a key for checkout and the catalogue only, safe to put in a web page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="Merchant slug")
        parser.add_argument("--mode", choices=ApiMode.values, default=ApiMode.TEST)
        parser.add_argument("--name", default="")
        parser.add_argument("--kind", choices=ApiKeyKind.values, default=ApiKeyKind.SECRET)
        parser.add_argument("--quiet", action="store_true", help="Print only the key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            merchant = merchant_get_by_slug(slug=options["merchant"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        issued = api_key_create(
            merchant=merchant,
            mode=options["mode"],
            name=options["name"],
            kind=options["kind"],
            actor=Actor.system("create_api_key"),
        )
        if options["quiet"]:
            self.stdout.write(issued.secret)
            return
        self.stdout.write(f"API key {issued.api_key.public_id} for {merchant.slug} ({issued.api_key.mode} mode):")
        self.stdout.write(issued.secret)
        if issued.api_key.kind == ApiKeyKind.SECRET:
            self.stdout.write("Store it now: only its hash is kept, it cannot be shown again.")
