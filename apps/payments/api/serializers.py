from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.fields import (
    InputSerializer,
    PaymentMethodSerializer,
    ReturnUrlField,
    StrictIntegerField,
    validate_metadata,
)
from apps.core.money import SUPPORTED_CURRENCIES
from apps.payments.models import Authentication, Payment, Refund, Review
from apps.payments.representations import next_action, risk_view


class CustomerInputSerializer(InputSerializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class PaymentCreateSerializer(InputSerializer):
    amount = StrictIntegerField(min_value=1, max_value=99_999_999_99)
    currency = serializers.CharField(min_length=3, max_length=3)
    capture = serializers.BooleanField(default=True)
    payment_method = PaymentMethodSerializer()
    customer = serializers.JSONField(required=False, help_text="A customer id (cus_…) or {email, name, phone}")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    metadata = serializers.JSONField(required=False, default=dict, validators=[validate_metadata])
    return_url = ReturnUrlField(help_text="Where the customer's browser goes after 3-D Secure (?payment=…&status=…)")
    customer_ip = serializers.IPAddressField(
        required=False,
        default="",
        allow_blank=True,
        help_text="The customer's IP address as your site saw it (for risk checks and the gateway's fraud "
        "tools); the address your server calls us from is not the customer's",
    )

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


class CaptureSerializer(InputSerializer):
    amount = StrictIntegerField(min_value=1, required=False)


class RefundCreateSerializer(InputSerializer):
    amount = StrictIntegerField(min_value=1, required=False)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class RedirectToUrlSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(help_text="The page where the customer authenticates")
    return_url = serializers.URLField(allow_null=True, help_text="The merchant's page the customer comes back to")


class NextActionSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["redirect_to_url"])
    redirect_to_url = RedirectToUrlSerializer()


class CardOutputSerializer(serializers.Serializer[Any]):
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class RiskRuleSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="The rule (rul_…) or list entry (rle_…) that matched")
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["block", "review", "request_3ds", "allow"])
    mode = serializers.ChoiceField(choices=["live", "log_only"], help_text="log_only: recorded, did not act")
    reason = serializers.CharField()


class RiskSerializer(serializers.Serializer[Any]):
    score = serializers.IntegerField(min_value=0, max_value=100)
    level = serializers.ChoiceField(choices=["low", "elevated", "high"])
    outcome = serializers.ChoiceField(choices=["block", "review", "request_3ds", "allow"])
    rules = RiskRuleSerializer(many=True)


class PaymentOutputSerializer(serializers.ModelSerializer[Payment]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    card = CardOutputSerializer(source="*")
    gateway = serializers.CharField(source="gateway_account.gateway")
    amount_refundable = serializers.IntegerField(source="refundable_amount")

    # Codes and messages are null when there is none (never "", as everywhere in the API).
    failure_code = serializers.SerializerMethodField()
    failure_message = serializers.SerializerMethodField()
    authentication = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()
    risk = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()

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
            "authentication",
            "next_action",
            "risk",
            "review",
            "livemode",
            "created_at",
            "updated_at",
        ]

    def get_object(self, obj: Payment) -> str:
        return "payment"

    @extend_schema_field(
        {"type": "string", "nullable": True, "enum": [*Authentication.values, None]},
    )
    def get_authentication(self, obj: Payment) -> str | None:
        """3-D Secure: required (the customer is authenticating), succeeded or failed; null when
        the issuer did not ask."""
        return obj.authentication or None

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, obj: Payment) -> dict[str, Any] | None:
        """While the payment requires action: send the customer to `redirect_to_url.url`."""
        return next_action(obj)

    @extend_schema_field(RiskSerializer(allow_null=True))
    def get_risk(self, obj: Payment) -> dict[str, Any] | None:
        """The risk assessment made before the gateway call; null for payments made before it."""
        return risk_view(obj)

    @extend_schema_field({"type": "string", "nullable": True, "enum": [*Review.values, None]})
    def get_review(self, obj: Payment) -> str | None:
        """Held for risk review (authorised only until a reviewer decides): pending, approved
        (captured if you asked for a capture), rejected or expired (voided); null when not held."""
        return obj.review or None

    def get_failure_code(self, obj: Payment) -> str | None:
        return obj.failure_code or None

    def get_failure_message(self, obj: Payment) -> str | None:
        return obj.failure_message or None

    def get_customer(self, obj: Payment) -> str | None:
        return obj.customer.public_id if obj.customer_id and obj.customer else None


class RefundOutputSerializer(serializers.ModelSerializer[Refund]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment.public_id")

    # Codes and messages are null when there is none (never "", as everywhere in the API).
    failure_code = serializers.SerializerMethodField()
    failure_message = serializers.SerializerMethodField()

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

    def get_failure_code(self, obj: Refund) -> str | None:
        return obj.failure_code or None

    def get_failure_message(self, obj: Refund) -> str | None:
        return obj.failure_message or None
