"""manage.py createsuperuser, audited. Django's command of this name creates the superuser without a
trace; this one asks the same way for this project's user model (--username, --email, --noinput
with DJANGO_SUPERUSER_USERNAME/EMAIL/PASSWORD, the same prompts and password validators) and
creates it with staff_superuser_create, audited as staff.created in the transaction that creates
it (never the password or its hash). It serves the name because apps.accounts comes before
django.contrib.auth in INSTALLED_APPS (system check accounts.E001). create_staff_user --superuser
also enrols a second factor."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.management import get_default_username
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Field
from django.utils.text import capfirst

from apps.accounts.services import staff_superuser_create
from apps.audit.actors import Actor

User = get_user_model()
ENVIRONMENT = "DJANGO_SUPERUSER_"


class NotATerminal(Exception):
    pass


def _field(name: str) -> Field[Any, Any]:
    field = User._meta.get_field(name)
    assert isinstance(field, Field)  # noqa: S101 - the user model's own columns
    return field


class Command(BaseCommand):
    help = "Create a superuser, audited as staff.created (never the password)."
    requires_migrations_checks = True
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", help="Specifies the login for the superuser.")
        parser.add_argument("--email", help="Specifies the email for the superuser.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help=(
                "Ask nothing: the username, email and password come from the options or from "
                f"{ENVIRONMENT}USERNAME, {ENVIRONMENT}EMAIL and {ENVIRONMENT}PASSWORD (none: an unusable password)."
            ),
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        self.terminal: Any = options.get("stdin", sys.stdin)  # a test's stand-in for the terminal
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["interactive"]:
                if hasattr(self.terminal, "isatty") and not self.terminal.isatty():
                    raise NotATerminal
                username, email = self._asked_names(options)
                password: str | None = self._asked_password(username=username, email=email)
            else:
                username, email = self._given_names(options)
                password = os.environ.get(f"{ENVIRONMENT}PASSWORD")
            # Everything is asked for before the transaction: nothing is held open while someone types.
            staff_superuser_create(
                username=username, email=email, password=password, actor=Actor.system("createsuperuser")
            )
        except KeyboardInterrupt:
            self.stderr.write("\nOperation cancelled.")
            sys.exit(1)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except ValueError as exc:  # the username taken meanwhile
            raise CommandError(str(exc)) from exc
        except NotATerminal:
            self.stdout.write(
                "Superuser creation skipped due to not running in a TTY. "
                "You can run `manage.py createsuperuser` in your project to create one manually."
            )
            return
        if options["verbosity"] >= 1:
            self.stdout.write("Superuser created successfully.")

    def _asked_names(self, options: dict[str, Any]) -> tuple[str, str]:
        username_field = _field(User.USERNAME_FIELD)
        username = options["username"]
        if username == "":
            raise CommandError(f"{capfirst(username_field.verbose_name)} cannot be blank.")
        if username and (error := self._username_error(username)):
            self.stderr.write(error)
            username = None
        default = get_default_username()
        while not username:
            username = self._input(username_field, default)
            if username and (error := self._username_error(username)):
                self.stderr.write(error)
                username = None
        email_field = _field("email")
        email = email_field.clean(options["email"], None) if options["email"] is not None else None
        while email is None:
            email = self._input(email_field)
        return username, email

    def _asked_password(self, *, username: str, email: str) -> str:
        while True:
            password = getpass.getpass()
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("Error: Your passwords didn't match.")
                continue
            if password.strip() == "":
                self.stderr.write("Error: Blank passwords aren't allowed.")
                continue
            try:
                validate_password(password, User(username=username, email=email))
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                if input("Bypass password validation and create user anyway? [y/N]: ").lower() != "y":
                    continue
            return password

    def _given_names(self, options: dict[str, Any]) -> tuple[str, str]:
        username = options["username"]
        if username is None:
            username = os.environ.get(f"{ENVIRONMENT}USERNAME")
        if username is None:
            raise CommandError("You must use --username with --noinput.")
        if error := self._username_error(username):
            raise CommandError(error)
        email = options["email"] or os.environ.get(f"{ENVIRONMENT}EMAIL")
        if not email and "" not in (options["email"], os.environ.get(f"{ENVIRONMENT}EMAIL")):
            raise CommandError("You must use --email with --noinput.")
        return username, _field("email").clean(email or "", None)

    def _input(self, field: Field[Any, Any], default: str = "") -> Any:
        """One answer at the prompt, cleaned by the field (None: refused, ask again)."""
        suffix = f" (leave blank to use '{default}')" if default else ""
        answer = input(f"{capfirst(field.verbose_name)}{suffix}: ") or default
        try:
            return field.clean(answer, None)
        except ValidationError as exc:
            self.stderr.write(f"Error: {'; '.join(exc.messages)}")
            return None

    def _username_error(self, username: str) -> str | None:
        """Why this username cannot be the new superuser's, if it cannot."""
        field = _field(User.USERNAME_FIELD)
        if User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():
            return f"Error: That {field.verbose_name} is already taken."
        if not username:
            return f"{capfirst(field.verbose_name)} cannot be blank."
        try:
            field.clean(username, None)
        except ValidationError as exc:
            return "; ".join(exc.messages)
        return None
