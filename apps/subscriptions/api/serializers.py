from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.api.fields import InputSerializer, StrictIntegerField, validate_metadata
from apps.core.money import SUPPORTED_CURRENCIES
from apps.subscriptions.models import BillingMode, Interval


class PlanCreateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    amount = StrictIntegerField(min_value=1, max_value=99_999_999_99)
    currency = serializers.CharField(min_length=3, max_length=3)
    interval = serializers.ChoiceField(choices=Interval.choices)
    interval_count = StrictIntegerField(min_value=1, max_value=365, default=1)
    trial_days = StrictIntegerField(min_value=0, max_value=730, default=0)
    billing_mode = serializers.ChoiceField(choices=BillingMode.choices, default=BillingMode.CLEARHOUSE)
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if value not in SUPPORTED_CURRENCIES:
            raise serializers.ValidationError(f"Unsupported currency {value}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        limits = {"day": 365, "week": 52, "month": 12, "year": 1}
        if attrs["interval_count"] > limits[attrs["interval"]]:
            raise serializers.ValidationError(
                {"interval_count": f"At most {limits[attrs['interval']]} for a {attrs['interval']}ly plan."}
            )
        return attrs


class PlanUpdateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    active = serializers.BooleanField(required=False)
    metadata = serializers.JSONField(required=False, validators=[validate_metadata])


class SubscriptionCreateSerializer(InputSerializer):
    customer = serializers.RegexField(r"^cus_[0-9A-Za-z]+$", max_length=40)
    plan = serializers.RegexField(r"^plan_[0-9A-Za-z]+$", max_length=40)
    payment_method = serializers.RegexField(r"^pm_[0-9A-Za-z]+$", max_length=40, required=False)
    trial_days = StrictIntegerField(min_value=0, max_value=730, required=False)
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])


class SubscriptionChangeSerializer(InputSerializer):
    plan = serializers.RegexField(r"^plan_[0-9A-Za-z]+$", max_length=40, required=False)
    payment_method = serializers.RegexField(r"^pm_[0-9A-Za-z]+$", max_length=40, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give a plan, a payment_method or both.")
        return attrs


class SubscriptionCancelSerializer(InputSerializer):
    at_period_end = serializers.BooleanField(default=False)
