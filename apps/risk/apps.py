from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_built_in_rules(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from apps.audit.actors import Actor

    from .built_in import built_in_rules_install

    built_in_rules_install(actor=Actor.system("migrate"))


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.risk"
    label = "risk"
    verbose_name = "Risk: rules and lists"

    def ready(self) -> None:
        post_migrate.connect(_install_built_in_rules, sender=self, dispatch_uid="risk_built_in_rules")
