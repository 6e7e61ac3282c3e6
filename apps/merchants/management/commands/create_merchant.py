from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError
from apps.merchants.services import merchant_create


class Command(BaseCommand):
    help = "Create a merchant (tenant)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            merchant = merchant_create(
                slug=options["slug"], name=options["name"], actor=Actor.system("create_merchant")
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created merchant {merchant.slug} ({merchant.public_id})")
