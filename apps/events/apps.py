from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Events out: the outbox, merchant webhook endpoints and their deliveries. Below the domain:
    domain apps publish into it; it imports none of them."""

    name = "apps.events"
    label = "events"
    verbose_name = "Events and merchant webhooks"

    def ready(self) -> None:
        from apps.audit.actors import Actor
        from apps.core.field_encryption import encrypted_secrets_register

        from .endpoints import webhook_endpoint_secrets_reencrypt

        encrypted_secrets_register(
            "webhook endpoint(s)", lambda label: webhook_endpoint_secrets_reencrypt(actor=Actor.system(label))
        )
