from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.fields import (
    REQUIRED,
    EmailAddressField,
    InputSerializer,
    PaymentMethodSerializer,
    ReturnUrlField,
    StrictIntegerField,
    unknown_parameter,
    validate_metadata,
)
from apps.core.banks import aba_routing_valid
from apps.core.money import SUPPORTED_CURRENCIES
from apps.payments.models import Authentication, Payment, Refund, Review
from apps.payments.representations import bank_account_view, card_view, next_action, risk_view


class CustomerInputSerializer(InputSerializer):
    email = EmailAddressField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class PaymentMethodInputSerializer(PaymentMethodSerializer):
    """A card, an Accept.js token, or a US bank account debited through ACH (us_bank_account:
    routing and account numbers are write-only, sent to the gateway, never stored or logged)."""

    type = serializers.ChoiceField(choices=["card", "opaque_data", "us_bank_account"])
    routing_number = serializers.RegexField(r"^[0-9]{9}$", required=False, write_only=True)
    account_number = serializers.RegexField(r"^[0-9]{5,17}$", required=False, write_only=True)
    account_type = serializers.ChoiceField(choices=["checking", "savings", "business_checking"], required=False)
    account_holder_name = serializers.CharField(max_length=22, required=False)
    echeck_type = serializers.ChoiceField(
        choices=["WEB", "PPD", "TEL", "CCD"],
        required=False,
        help_text="The ACH entry class: WEB (default) for consumer accounts, CCD for business checking",
    )
    authorization_code = serializers.RegexField(
        r"^[A-Za-z0-9]{6}$",
        required=False,
        help_text="A card only: the approval code its issuer gave by phone (a voice authorization). The card is "
        "captured against it at once, without asking the issuer again; gateways that cannot (all but "
        "Authorize.Net) answer 400 voice_authorization_not_supported",
        error_messages={"invalid": "Must be the 6 letters or digits the card's issuer gave."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "authorization_code" in attrs and attrs["type"] != "card":
            raise serializers.ValidationError(
                {"authorization_code": "Only a card is captured with an authorization code."}
            )
        if attrs["type"] != "us_bank_account":
            bank_fields = ("routing_number", "account_number", "account_type", "account_holder_name", "echeck_type")
            extra = [field for field in bank_fields if field in attrs]
            if extra:
                raise unknown_parameter(extra[0])
            return super().validate(attrs)
        required = ("routing_number", "account_number", "account_type", "account_holder_name")
        missing = [field for field in required if not attrs.get(field)]
        if missing:
            raise serializers.ValidationError(dict.fromkeys(missing, REQUIRED))
        card_fields = [
            field for field in ("number", "exp_month", "exp_year", "cvc", "descriptor", "value") if field in attrs
        ]
        if card_fields:
            raise unknown_parameter(card_fields[0])
        if not aba_routing_valid(attrs["routing_number"]):
            raise serializers.ValidationError(
                {"routing_number": "This is not a valid ABA routing number."}, code="invalid_routing_number"
            )
        business = attrs["account_type"] == "business_checking"
        attrs.setdefault("echeck_type", "CCD" if business else "WEB")
        if (attrs["echeck_type"] == "CCD") != business:
            raise serializers.ValidationError(
                {"echeck_type": "CCD is for business checking accounts, and business checking takes CCD only."}
            )
        return attrs


class PaymentCreateSerializer(InputSerializer):
    amount = StrictIntegerField(min_value=1, max_value=99_999_999_99)
    currency = serializers.CharField(min_length=3, max_length=3)
    capture = serializers.BooleanField(default=True)
    payment_method = PaymentMethodInputSerializer()
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

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["payment_method"].get("authorization_code") and not attrs["capture"]:
            raise serializers.ValidationError(
                {"capture": "A card authorized by phone (authorization_code) is captured at once: capture is true."}
            )
        return attrs

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


class BankAccountOutputSerializer(serializers.Serializer[Any]):
    last4 = serializers.CharField(help_text="The account number's last four digits")
    routing_last4 = serializers.CharField(help_text="The routing number's last four digits")
    account_type = serializers.ChoiceField(choices=["checking", "savings", "business_checking"])
    account_holder_name = serializers.CharField()


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
    card = serializers.SerializerMethodField()
    bank_account = serializers.SerializerMethodField()
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
            "payment_method_type",
            "card",
            "bank_account",
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

    @extend_schema_field(CardOutputSerializer(allow_null=True))
    def get_card(self, obj: Payment) -> dict[str, Any] | None:
        """The card charged; null for a bank account debit."""
        return card_view(obj)

    @extend_schema_field(BankAccountOutputSerializer(allow_null=True))
    def get_bank_account(self, obj: Payment) -> dict[str, Any] | None:
        """The bank account debited (us_bank_account), last fours only; null for a card."""
        return bank_account_view(obj)

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


class SavePaymentMethodSerializer(InputSerializer):
    customer = serializers.CharField(
        max_length=40, required=False, help_text="Whose card it is (a customer id); default: the payment's customer"
    )
