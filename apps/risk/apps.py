from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate


def _install_built_in_rules(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from apps.audit.actors import Actor

    from .built_in import built_in_rules_install

    built_in_rules_install(actor=Actor.system("migrate"))


def _country_tables(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """The BIN and IP country tables load (run by `check`, `migrate` and `runserver`)."""
    from .geo import check_tables

    try:
        check_tables()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="risk.E001")]
    return []


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.risk"
    label = "risk"
    verbose_name = "Risk: rules and lists"

    def ready(self) -> None:
        post_migrate.connect(_install_built_in_rules, sender=self, dispatch_uid="risk_built_in_rules")
        checks.register(_country_tables, checks.Tags.compatibility)
        from apps.core.stamps import stamp_on_change

        from .models import ListEntry, Rule
        from .stamps import LISTS, RULES

        stamp_on_change(RULES, Rule)
        stamp_on_change(LISTS, ListEntry)
