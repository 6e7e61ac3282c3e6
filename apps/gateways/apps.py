from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "apps.gateways"
    label = "gateways"
    verbose_name = "Gateways"

    def ready(self) -> None:
        from apps.audit.actors import Actor
        from apps.core.field_encryption import encrypted_secrets_register

        from .services import gateway_credentials_reencrypt

        encrypted_secrets_register(
            "gateway account(s)", lambda label: gateway_credentials_reencrypt(actor=Actor.system(label))
        )
