from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from apps.accounts.services import staff_password_reset
from apps.audit.actors import Actor
from apps.merchants.models import ApiKey, Merchant
from apps.merchants.services import api_key_create, api_key_revoke, merchant_create

DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = (
        "Load demo data for the quickstart: a merchant, an admin login and a test API key. "
        "Safe to run again: it rotates the admin password and the demo key and prints both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", default="demo")
        parser.add_argument("--admin", default="admin")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("seed_demo")
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            merchant = merchant_create(slug=options["merchant"], name="Demo Store", actor=actor)

        user_model = get_user_model()
        admin = user_model.objects.filter(username=options["admin"]).first()
        if admin is None:
            with transaction.atomic():
                admin = user_model.objects.create_superuser(
                    username=options["admin"], email="admin@example.com", password=secrets.token_urlsafe(12)
                )
        password = staff_password_reset(user=admin, actor=actor)

        for old in ApiKey.objects.filter(merchant=merchant, name=DEMO_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(api_key=old, actor=actor)
        issued = api_key_create(merchant=merchant, mode="test", name=DEMO_KEY_NAME, actor=actor)

        base = options["base_url"].rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 72,
                    " Clearhouse demo data",
                    f"   Merchant:    {merchant.name} ({merchant.slug})",
                    f"   Admin:       {base}/admin/   user {admin.get_username()}   password {password}",
                    f"   API key:     {issued.secret}",
                    f"   API docs:    {base}/api/docs/",
                    f"   Try:         curl -H 'Authorization: Bearer {issued.secret}' {base}/api/v1/merchant",
                    "   (the password and key are new on every start)",
                    "=" * 72,
                    "",
                ]
            )
        )
