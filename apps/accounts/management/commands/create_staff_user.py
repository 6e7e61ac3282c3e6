from __future__ import annotations

from typing import Any

import qrcode
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.roles import ALL_ROLES
from apps.accounts.services import staff_user_create
from apps.audit.actors import Actor


class Command(BaseCommand):
    help = "Create a staff user with roles, a generated password and (by default in prod) a TOTP device."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", action="append", default=[], choices=ALL_ROLES, help="Repeat for several roles")
        parser.add_argument("--superuser", action="store_true")
        totp = parser.add_mutually_exclusive_group()
        totp.add_argument("--totp", dest="totp", action="store_true", default=None, help="Create a TOTP device")
        totp.add_argument("--no-totp", dest="totp", action="store_false")

    def handle(self, *args: Any, **options: Any) -> None:
        with_totp = settings.ADMIN_REQUIRE_OTP if options["totp"] is None else options["totp"]
        try:
            created = staff_user_create(
                username=options["username"],
                email=options["email"],
                roles=options["role"],
                superuser=options["superuser"],
                with_totp=with_totp,
                actor=Actor.system("create_staff_user"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Staff user: {created.user.get_username()}")
        self.stdout.write(f"Password:   {created.password}   (shown once; change it after the first login)")
        if created.totp_uri:
            self.stdout.write("TOTP: scan this with an authenticator app (shown once):")
            code = qrcode.QRCode(border=1)
            code.add_data(created.totp_uri)
            code.print_ascii(out=self.stdout)
            self.stdout.write(created.totp_uri)
            self.stdout.write("Recovery codes (each works once in place of a code; shown once):")
            self.stdout.write("  " + "  ".join(created.recovery_codes))
