from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "apps.merchants"
    label = "merchants"
    verbose_name = "Merchants and API keys"

    def ready(self) -> None:
        from . import schema  # noqa: F401  registers the OpenAPI auth extension
