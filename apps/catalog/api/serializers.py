from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.api.fields import EmailAddressField, InputSerializer
from apps.catalog.models import Price, Product


class PriceOutputSerializer(serializers.ModelSerializer[Price]):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = Price
        fields = ["id", "nickname", "amount", "currency"]


class ProductOutputSerializer(serializers.ModelSerializer[Product]):
    id = serializers.CharField(source="public_id")
    prices = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "name", "description", "prices"]

    def get_prices(self, product: Product) -> list[dict[str, Any]]:
        return [dict(PriceOutputSerializer(price).data) for price in getattr(product, "active_prices", [])]


class CheckoutCustomerSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    email = EmailAddressField(required=False, default="", allow_blank=True)
    contact = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)


class CheckoutOrderCreateSerializer(InputSerializer):
    price = serializers.CharField(max_length=40, help_text="A price id (price_…); the amount comes from it")
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    customer = CheckoutCustomerSerializer(required=False, default=dict)


class CheckoutVerifySerializer(InputSerializer):
    razorpay_order_id = serializers.CharField(max_length=64)
    razorpay_payment_id = serializers.CharField(max_length=64)
    razorpay_signature = serializers.CharField(max_length=128)


class CheckoutOutputSerializer(serializers.Serializer[Any]):
    """Documentation of apps.catalog.services.checkout_representation."""

    id = serializers.CharField()
    object = serializers.CharField()
    status = serializers.CharField(help_text="open, completed (entitlement granted), failed or expired")
    price = serializers.CharField()
    product = serializers.CharField()
    quantity = serializers.IntegerField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    payment = serializers.CharField()
    payment_status = serializers.CharField()
    failure_code = serializers.CharField(allow_null=True)
    failure_message = serializers.CharField(allow_null=True)
    customer = serializers.CharField()
    entitled = serializers.BooleanField()
    expires_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class RazorpayCheckoutOptionsSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="Razorpay key id (public)")
    order_id = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    prefill = serializers.DictField()


class CheckoutOrderCreatedSerializer(CheckoutOutputSerializer):
    razorpay = RazorpayCheckoutOptionsSerializer()


class StripeConfirmSerializer(InputSerializer):
    payment_intent = serializers.CharField(max_length=255, help_text="The intent Stripe.js confirmed (pi_…)")


class StripeCheckoutOptionsSerializer(serializers.Serializer[Any]):
    publishable_key = serializers.CharField(help_text="The Stripe account's publishable key, for Stripe(…)")
    payment_intent = serializers.CharField()
    client_secret = serializers.CharField(help_text="For stripe.confirmCardPayment; give it to this customer only")
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class StripeCheckoutCreatedSerializer(CheckoutOutputSerializer):
    stripe = StripeCheckoutOptionsSerializer()
