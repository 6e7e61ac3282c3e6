from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "apps.merchants"
    label = "merchants"
    verbose_name = "Merchants and API keys"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import schema  # noqa: F401  registers the OpenAPI auth extension
        from .key_cache import signal_bump
        from .models import ApiKey, Merchant

        for model in (ApiKey, Merchant):
            for signal in (post_save, post_delete):
                uid = f"api_keys_stamp_{'save' if signal is post_save else 'delete'}_{model.__name__}"
                signal.connect(signal_bump, sender=model, dispatch_uid=uid)
