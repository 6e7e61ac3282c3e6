from __future__ import annotations

from datetime import date
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.core.logging import luhn_valid
from apps.core.money import SUPPORTED_CURRENCIES
from apps.payments.models import Payment, Refund


class StrictIntegerField(serializers.IntegerField):
    """Money is an integer in minor units: 10.0, "10" and true are refused, not coerced."""

    default_error_messages = {"invalid": "Must be an integer number of minor units (e.g. 1050 for 10.50)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class BillingDetailsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=60, required=False, allow_blank=True)
    city = serializers.CharField(max_length=40, required=False, allow_blank=True)
    state = serializers.CharField(max_length=40, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=60, required=False, allow_blank=True)


REQUIRED = ErrorDetail("This field is required.", code="required")


class PaymentMethodSerializer(serializers.Serializer):
    """A card (where raw card data is enabled) or an Accept.js token. Card fields are write-only
    and never echoed, stored or logged."""

    type = serializers.ChoiceField(choices=["card", "opaque_data"])
    number = serializers.CharField(max_length=23, required=False, write_only=True, trim_whitespace=True)
    exp_month = StrictIntegerField(min_value=1, max_value=12, required=False)
    exp_year = StrictIntegerField(min_value=2000, max_value=2100, required=False)
    cvc = serializers.RegexField(r"^[0-9]{3,4}$", required=False, write_only=True)
    descriptor = serializers.CharField(max_length=100, required=False)
    value = serializers.CharField(max_length=8192, required=False, write_only=True)
    billing_details = BillingDetailsSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "card":
            missing = [field for field in ("number", "exp_month", "exp_year") if field not in attrs]
            if missing:
                raise serializers.ValidationError(dict.fromkeys(missing, REQUIRED))
            number = attrs["number"].replace(" ", "").replace("-", "")
            if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
                raise serializers.ValidationError({"number": "This is not a valid card number."}, code="invalid_number")
            today = date.today()
            if (attrs["exp_year"], attrs["exp_month"]) < (today.year, today.month):
                raise serializers.ValidationError({"exp_year": "The card has expired."}, code="expired_card")
            attrs["number"] = number
        else:
            missing = [field for field in ("descriptor", "value") if not attrs.get(field)]
            if missing:
                raise serializers.ValidationError(dict.fromkeys(missing, REQUIRED))
        return attrs


class CustomerInputSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


def validate_metadata(value: Any) -> None:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Must be an object of string keys and values.")
    if len(value) > 50:
        raise serializers.ValidationError("At most 50 keys.")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise serializers.ValidationError("Keys up to 40 and values up to 500 characters, both strings.")


class PaymentCreateSerializer(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, max_value=99_999_999_99)
    currency = serializers.CharField(min_length=3, max_length=3)
    capture = serializers.BooleanField(default=True)
    payment_method = PaymentMethodSerializer()
    customer = serializers.JSONField(required=False, help_text="A customer id (cus_…) or {email, name, phone}")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if value not in SUPPORTED_CURRENCIES:
            raise serializers.ValidationError(f"Unsupported currency {value}.")
        return value

    def validate_customer(self, value: Any) -> Any:
        if isinstance(value, str):
            if not value.startswith("cus_"):
                raise serializers.ValidationError("Must be a customer id (cus_…) or an object.")
            return value
        nested = CustomerInputSerializer(data=value)
        nested.is_valid(raise_exception=True)
        return nested.validated_data


class CaptureSerializer(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, required=False)


class RefundCreateSerializer(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, required=False)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class CardOutputSerializer(serializers.Serializer):
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class PaymentOutputSerializer(serializers.ModelSerializer[Payment]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    card = CardOutputSerializer(source="*")
    gateway = serializers.CharField(source="gateway_account.gateway")
    amount_refundable = serializers.IntegerField(source="refundable_amount")

    class Meta:
        model = Payment
        fields = [
            "id",
            "object",
            "status",
            "amount",
            "currency",
            "capture",
            "amount_authorized",
            "amount_captured",
            "amount_refunded",
            "amount_refund_pending",
            "amount_refundable",
            "card",
            "customer",
            "reference",
            "description",
            "metadata",
            "gateway",
            "gateway_transaction_id",
            "failure_code",
            "failure_message",
            "livemode",
            "created_at",
            "updated_at",
        ]

    def get_object(self, obj: Payment) -> str:
        return "payment"

    def get_customer(self, obj: Payment) -> str | None:
        return obj.customer.public_id if obj.customer_id and obj.customer else None


class RefundOutputSerializer(serializers.ModelSerializer[Refund]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment.public_id")

    class Meta:
        model = Refund
        fields = [
            "id",
            "object",
            "payment",
            "status",
            "amount",
            "currency",
            "reason",
            "gateway_transaction_id",
            "failure_code",
            "failure_message",
            "created_at",
            "updated_at",
        ]

    def get_object(self, obj: Refund) -> str:
        return "refund"
