"""manage.py changepassword, audited. Django's command of this name sets the password without a
trace; this one asks the same way (the same argument and prompts, three tries, the password
validators) and sets it with staff_password_set, audited as staff.password_changed in the
transaction that sets it (never the password or its hash). It serves the name because
apps.accounts comes before django.contrib.auth in INSTALLED_APPS (system check accounts.E001)."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.services import staff_password_set
from apps.audit.actors import Actor

MAX_TRIES = 3


class Command(BaseCommand):
    help = "Change a staff user's password, audited as staff.password_changed (never the password)."
    requires_migrations_checks = True
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", help="Whose password; by default the current OS user's name.")

    def handle(self, *args: Any, **options: Any) -> str:
        username = options["username"] or getpass.getuser()
        user_model = get_user_model()
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"user '{username}' does not exist")
        self.stdout.write(f"Changing password for user '{user}'")
        # Asked for before the transaction: nothing is locked while someone types.
        for _ in range(MAX_TRIES):
            password = self._ask("Password: ")
            if password != self._ask("Password (again): "):
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                continue
            staff_password_set(user=user, password=password, actor=Actor.system("changepassword"))
            return f"Password changed successfully for user '{user}'"
        raise CommandError(f"Aborting password change for user '{user}' after {MAX_TRIES} attempts")

    def _ask(self, prompt: str) -> str:
        password = getpass.getpass(prompt=prompt)
        if not password:
            raise CommandError("aborted")
        return password
