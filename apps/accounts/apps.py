from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _setup_roles_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # Permissions of apps later in INSTALLED_APPS are created by their own post_migrate
    # signal, which has not run yet; create them all first.
    from django.contrib.auth.management import create_permissions

    from apps.audit.actors import Actor

    from .services import roles_setup

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles_setup(actor=Actor.system("migrate"))


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Staff and roles"

    def ready(self) -> None:
        from . import signals

        signals.connect()
        post_migrate.connect(_setup_roles_after_migrate, sender=self, dispatch_uid="accounts_setup_roles")
