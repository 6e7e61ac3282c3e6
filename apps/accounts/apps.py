from typing import Any

from django.apps import AppConfig, apps
from django.core import checks
from django.core.management import get_commands
from django.db.models.signals import post_migrate

# Django's commands of these names change staff privileges without an audit event; this app's own
# (management/commands) audit them, and serve the names only from before django.contrib.auth.
AUDITED_AUTH_COMMANDS = ("changepassword", "createsuperuser")


def _setup_roles_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # Permissions of apps later in INSTALLED_APPS are created by their own post_migrate
    # signal, which has not run yet; create them all first.
    from django.contrib.auth.management import create_permissions

    from apps.audit.actors import Actor

    from .services import roles_setup

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles_setup(actor=Actor.system("migrate"))


def check_audited_commands(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """accounts.E001: `manage.py changepassword` and `createsuperuser` are this app's, audited."""
    served_by = get_commands()
    return [
        checks.Error(
            f"manage.py {name} is {served_by.get(name)}'s, which writes no audit event.",
            hint="List apps.accounts before django.contrib.auth in INSTALLED_APPS.",
            id="accounts.E001",
        )
        for name in AUDITED_AUTH_COMMANDS
        if served_by.get(name) != AccountsConfig.name
    ]


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Staff and roles"

    def ready(self) -> None:
        from . import signals

        signals.connect()
        post_migrate.connect(_setup_roles_after_migrate, sender=self, dispatch_uid="accounts_setup_roles")
        checks.register(check_audited_commands)
