from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.core.field_encryption import encrypted_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (gateway credentials, merchant webhook endpoints' signing secrets, customer "
        "session signing keys) with the first key of FIELD_ENCRYPTION_KEYS, after a new key was put first; then the "
        "old key can be dropped. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = []
        try:
            for secrets in encrypted_secrets():
                done.append(f"{secrets.reencrypt('rotate_field_encryption')} {secrets.what}")
        except ImproperlyConfigured as exc:
            raise CommandError(
                f"{exc}. Every key that encrypted a stored secret must stay in FIELD_ENCRYPTION_KEYS (after the "
                "new one) until this command has run; nothing is lost: fix the list and run it again."
            ) from exc
        listed = ", ".join(done[:-1]) + f" and {done[-1]}" if len(done) > 1 else "".join(done)
        self.stdout.write(f"Re-encrypted {listed}.")
