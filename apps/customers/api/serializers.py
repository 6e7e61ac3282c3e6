from __future__ import annotations

from rest_framework import serializers

from apps.api.fields import InputSerializer, PaymentMethodSerializer, ReturnUrlField, validate_metadata


class CustomerCreateSerializer(InputSerializer):
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])


class CustomerUpdateSerializer(InputSerializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    metadata = serializers.JSONField(required=False, validators=[validate_metadata])


class PaymentMethodAddSerializer(PaymentMethodSerializer):
    """A card (where raw card data is enabled, i.e. test mode) or an Accept.js token, saved at the
    gateway's vault. Card fields are write-only and never stored or echoed."""

    set_default = serializers.BooleanField(default=False)
    return_url = ReturnUrlField(
        help_text="Where the customer's browser goes after 3-D Secure (?payment_method=…&status=…)"
    )
