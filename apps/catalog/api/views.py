"""Checkout and catalogue endpoints. They accept publishable keys (pk_…), which can do nothing
else, so a storefront can call them from the browser (CORS allow-list: CORS_ALLOWED_ORIGINS)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, MerchantApiView
from apps.catalog import selectors, services
from apps.merchants.permissions import PublishableKeyAllowed

from .serializers import (
    CheckoutOrderCreatedSerializer,
    CheckoutOrderCreateSerializer,
    CheckoutOutputSerializer,
    CheckoutVerifySerializer,
    ProductOutputSerializer,
)

PUBLISHABLE = [IsAuthenticated, PublishableKeyAllowed]
ERRORS = {
    400: OpenApiResponse(description="Invalid request or bad signature (error envelope); nothing changed"),
    404: OpenApiResponse(description="No such price or checkout for this merchant"),
    409: OpenApiResponse(description="The payment is being confirmed by another request; retry"),
    503: OpenApiResponse(description="Gateway unreachable; the payment stays pending and is confirmed later"),
}


class ProductListApi(MerchantApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(
        operation_id="catalog_products_list", responses=ProductOutputSerializer(many=True), tags=["checkout"]
    )
    def get(self, request: Request) -> Response:
        """The merchant's active products with their active prices (publishable keys allowed)."""
        products = selectors.product_list(merchant=self.merchant(request))
        data = ProductOutputSerializer(products, many=True).data
        return Response({"object": "list", "data": data, "has_more": False, "next": None, "previous": None})


class RazorpayOrderCreateApi(IdempotentApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(
        operation_id="checkout_razorpay_orders_create",
        request=CheckoutOrderCreateSerializer,
        responses={201: CheckoutOrderCreatedSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["checkout"],
        description="Start a checkout for a price: creates a pending payment and a Razorpay order, and "
        "returns the options for Razorpay Checkout. The amount is the price's, never the caller's.",
    )
    def post(self, request: Request) -> Response:
        data = CheckoutOrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        merchant = self.merchant(request)
        price = selectors.price_get(merchant=merchant, public_id=values["price"])
        customer = values["customer"]
        checkout = services.checkout_order_create(
            merchant=merchant,
            livemode=self.api_key(request).mode == "live",
            price=price,
            quantity=values["quantity"],
            customer_name=customer.get("name", ""),
            customer_email=customer.get("email", ""),
            customer_contact=customer.get("contact", ""),
            idempotency_reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        payment = checkout.payment
        body = services.checkout_representation(checkout)
        body["razorpay"] = {
            "key": payment.gateway_account.credentials()["key_id"],
            "order_id": payment.gateway_order_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "name": merchant.name,
            "description": payment.description,
            "prefill": {"name": customer.get("name", ""), "email": customer.get("email", ""),
                        "contact": customer.get("contact", "")},
        }  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED)


class RazorpayVerifyApi(IdempotentApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(
        operation_id="checkout_razorpay_verify",
        request=CheckoutVerifySerializer,
        responses={200: CheckoutOutputSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["checkout"],
        description="What Razorpay Checkout's handler received. Checks the signature, asks Razorpay for "
        "the payment, captures it if needed and grants the entitlement, exactly once (the webhooks and "
        "the reconciler may get there first: the answer is the same).",
    )
    def post(self, request: Request) -> Response:
        data = CheckoutVerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, str] = data.validated_data
        checkout = services.checkout_verify(
            merchant=self.merchant(request),
            order_id=values["razorpay_order_id"],
            payment_id=values["razorpay_payment_id"],
            signature=values["razorpay_signature"],
            actor=self.actor(request),
        )
        checkout.payment.refresh_from_db()
        return Response(services.checkout_representation(checkout))


class CheckoutDetailApi(MerchantApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(operation_id="checkout_orders_retrieve", responses=CheckoutOutputSerializer, tags=["checkout"])
    def get(self, request: Request, checkout_id: str) -> Response:
        """A checkout's state: open, completed or failed, with its payment (publishable keys allowed)."""
        checkout = selectors.checkout_get(merchant=self.merchant(request), public_id=checkout_id)
        return Response(services.checkout_representation(checkout))
