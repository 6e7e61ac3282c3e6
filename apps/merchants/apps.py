from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "apps.merchants"
    label = "merchants"
    verbose_name = "Merchants and API keys"

    def ready(self) -> None:
        from apps.core.stamps import stamp_on_change

        from . import schema  # noqa: F401  registers the OpenAPI auth extension
        from .key_cache import API_KEYS
        from .models import ApiKey, Merchant

        stamp_on_change(API_KEYS, ApiKey, Merchant)
