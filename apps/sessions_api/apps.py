from django.apps import AppConfig


class SessionsApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.sessions_api"
    label = "sessions_api"
    verbose_name = "Customer sessions"

    def ready(self) -> None:
        from apps.core.stamps import stamp_on_change

        from . import schema  # noqa: F401  registers the OpenAPI auth extension
        from .key_cache import SESSION_KEYS
        from .models import SigningKey

        stamp_on_change(SESSION_KEYS, SigningKey)
