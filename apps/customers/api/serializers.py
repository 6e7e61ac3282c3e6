from __future__ import annotations

from datetime import date
from typing import Any

from rest_framework import serializers

from apps.api.fields import (
    REQUIRED,
    BillingDetailsSerializer,
    EmailAddressField,
    InputSerializer,
    PaymentMethodSerializer,
    ReturnUrlField,
    StrictIntegerField,
    validate_metadata,
)


class CustomerCreateSerializer(InputSerializer):
    email = EmailAddressField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])


class CustomerUpdateSerializer(InputSerializer):
    email = EmailAddressField(required=False, allow_blank=True)
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


class PaymentMethodUpdateSerializer(InputSerializer):
    """A saved card's new expiry (both parts) and/or billing address (replaced as a whole). The
    card number is never sent: the gateway's vault keeps it."""

    exp_month = StrictIntegerField(min_value=1, max_value=12, required=False)
    exp_year = StrictIntegerField(min_value=2000, max_value=2100, required=False)
    billing_address = BillingDetailsSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Send exp_month and exp_year, billing_address, or both.", code="nothing_to_update"
            )
        expiry = [name for name in ("exp_month", "exp_year") if name in attrs]
        if len(expiry) == 1:
            missing = "exp_year" if expiry == ["exp_month"] else "exp_month"
            raise serializers.ValidationError({missing: REQUIRED})
        today = date.today()
        if expiry and (attrs["exp_year"], attrs["exp_month"]) < (today.year, today.month):
            raise serializers.ValidationError({"exp_year": "The card would have expired."}, code="expired_card")
        return attrs
