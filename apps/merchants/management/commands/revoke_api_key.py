from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.merchants.models import ApiKey
from apps.merchants.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its id (key_…)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            api_key = ApiKey.objects.get(public_id=options["key_id"])
        except ApiKey.DoesNotExist as exc:
            raise CommandError(f"No API key {options['key_id']!r}") from exc
        api_key = api_key_revoke(api_key=api_key, actor=Actor.system("revoke_api_key"))
        self.stdout.write(f"Revoked {api_key.display} at {api_key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
