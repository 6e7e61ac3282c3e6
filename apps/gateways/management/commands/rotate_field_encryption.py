from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.audit.actors import Actor
from apps.events.endpoints import webhook_endpoint_secrets_reencrypt
from apps.gateways.services import gateway_credentials_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt the stored secrets (gateway credentials, merchant webhook endpoints' signing secrets) with "
        "the first key of FIELD_ENCRYPTION_KEYS, after a new key was put first; then the old key can be dropped. "
        "Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("rotate_field_encryption")
        try:
            accounts = gateway_credentials_reencrypt(actor=actor)
            endpoints = webhook_endpoint_secrets_reencrypt(actor=actor)
        except ImproperlyConfigured as exc:
            raise CommandError(
                f"{exc}. Every key that encrypted a stored secret must stay in FIELD_ENCRYPTION_KEYS (after the "
                "new one) until this command has run; nothing is lost: fix the list and run it again."
            ) from exc
        self.stdout.write(f"Re-encrypted {accounts} gateway account(s) and {endpoints} webhook endpoint(s).")
