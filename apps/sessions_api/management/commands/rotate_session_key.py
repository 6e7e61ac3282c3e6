from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.merchants.models import Merchant
from apps.sessions_api.models import SigningAlgorithm
from apps.sessions_api.services import session_key_rotate


class Command(BaseCommand):
    help = (
        "Rotate a merchant's customer session signing key: new tokens are signed with a new key; the old "
        "one still verifies the tokens it signed until they expire (an hour at most)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("merchant", help="The merchant's slug or id (mch_…)")
        parser.add_argument("--algorithm", choices=SigningAlgorithm.values, help="Default: CUSTOMER_SESSION_ALGORITHM")
        parser.add_argument(
            "--compromised",
            action="store_true",
            help="a key leaked: every earlier key stops verifying at once (all current customer sessions end)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["merchant"]
        merchant = Merchant.objects.filter(slug=name).first() or Merchant.objects.filter(public_id=name).first()
        if merchant is None:
            raise CommandError(f"No merchant {name!r}")
        key = session_key_rotate(
            merchant=merchant,
            algorithm=options["algorithm"],
            compromised=options["compromised"],
            actor=Actor.system("rotate_session_key"),
        )
        self.stdout.write(f"{merchant.slug}: new customer session key {key.kid} ({key.algorithm})")
