from django.apps import AppConfig


class SessionsApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.sessions_api"
    label = "sessions_api"
    verbose_name = "Customer sessions"

    def ready(self) -> None:
        from apps.audit.actors import Actor
        from apps.core.field_encryption import encrypted_secrets_register
        from apps.core.stamps import stamp_on_change

        from . import schema  # noqa: F401  registers the OpenAPI auth extension
        from .key_cache import SESSION_KEYS
        from .models import SigningKey
        from .services import session_signing_keys_reencrypt

        stamp_on_change(SESSION_KEYS, SigningKey)
        encrypted_secrets_register(
            "session signing key(s)", lambda label: session_signing_keys_reencrypt(actor=Actor.system(label))
        )
