from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.audit.actors import Actor
from apps.gateways.services import gateway_credentials_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (gateway credentials) with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = gateway_credentials_reencrypt(actor=Actor.system("rotate_field_encryption"))
        self.stdout.write(f"Re-encrypted {count} gateway account(s).")
