from __future__ import annotations

from rest_framework import serializers

from apps.api.fields import InputSerializer, ReturnUrlField


class PortalSessionCreateSerializer(InputSerializer):
    customer = serializers.CharField(max_length=40, help_text="The customer's id (cus_…)")
    return_url = ReturnUrlField(help_text="The merchant's page the portal's 'Back' link and sign-out go to")
