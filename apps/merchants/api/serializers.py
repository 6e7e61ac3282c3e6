from __future__ import annotations

from rest_framework import serializers

from apps.merchants.models import ApiKey, Merchant


class MerchantOutputSerializer(serializers.ModelSerializer[Merchant]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()

    class Meta:
        model = Merchant
        fields = ["id", "object", "slug", "name", "is_active", "created_at"]

    def get_object(self, obj: Merchant) -> str:
        return "merchant"


class ApiKeyOutputSerializer(serializers.ModelSerializer[ApiKey]):
    """Never the secret: only what identifies the key."""

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    display = serializers.CharField()
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "object", "name", "mode", "display", "created_at", "last_used_at", "revoked", "revoked_at"]

    def get_object(self, obj: ApiKey) -> str:
        return "api_key"

    def get_revoked(self, obj: ApiKey) -> bool:
        return obj.revoked_at is not None
