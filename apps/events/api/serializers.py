from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.api.fields import InputSerializer
from apps.events.models import Event, WebhookEndpoint
from apps.events.services import EVENT_TYPES

EVENT_TYPE_CHOICES = [*EVENT_TYPES, "*"]


class EndpointCreateSerializer(InputSerializer):
    url = serializers.URLField(max_length=2000)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1)
    description = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointUpdateSerializer(InputSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class EndpointOutputSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "object", "url", "description", "event_types", "enabled", "disabled_reason",
            "failing_since", "created_at", "updated_at",
        ]  # fmt: skip

    def get_object(self, obj: WebhookEndpoint) -> str:
        return "webhook_endpoint"


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    secret = serializers.SerializerMethodField(help_text="The signing secret. Shown only in this response.")

    class Meta(EndpointOutputSerializer.Meta):
        fields = [*EndpointOutputSerializer.Meta.fields, "secret"]

    def get_secret(self, obj: Any) -> str:
        return str(self.context["secret"])


class EventOutputSerializer(serializers.ModelSerializer[Event]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()  # type: ignore[assignment]

    class Meta:
        model = Event
        fields = ["id", "object", "type", "livemode", "created_at", "data"]

    def get_object(self, obj: Event) -> str:
        return "event"

    def get_data(self, obj: Event) -> dict[str, Any]:
        return {"object": obj.data}
