from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Events out: the outbox, merchant webhook endpoints and their deliveries. Below the domain:
    domain apps publish into it; it imports none of them."""

    name = "apps.events"
    label = "events"
    verbose_name = "Events and merchant webhooks"
