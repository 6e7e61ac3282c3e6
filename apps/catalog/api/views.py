"""Checkout and catalogue endpoints. They accept publishable keys (pk_…), which can do nothing
else, so a storefront can call them from the browser (CORS allow-list: CORS_ALLOWED_ORIGINS)."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.idempotency import REPLAY_HEADER, SentResponse
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, MerchantApiView
from apps.catalog import selectors, services
from apps.gateways.models import GatewayName
from apps.merchants.permissions import PublishableKeyAllowed

from .serializers import (
    CheckoutOrderCreatedSerializer,
    CheckoutOrderCreateSerializer,
    CheckoutOutputSerializer,
    CheckoutVerifySerializer,
    ProductOutputSerializer,
    StripeCheckoutCreatedSerializer,
    StripeConfirmSerializer,
)

PUBLISHABLE = [IsAuthenticated, PublishableKeyAllowed]
ERRORS = {
    400: OpenApiResponse(description="Invalid request or bad signature (error envelope); nothing changed"),
    404: OpenApiResponse(description="No such price or checkout for this merchant"),
    409: OpenApiResponse(description="The payment is being confirmed by another request; retry"),
    503: OpenApiResponse(description="Gateway unreachable; the payment stays pending and is confirmed later"),
}
OPEN_ERRORS = {
    **ERRORS,
    422: OpenApiResponse(
        description="The gateway refused the order (gateway_request_refused: e.g. an amount outside its "
        "limits); the checkout's payment failed and nothing can be paid"
    ),
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
        responses={201: CheckoutOrderCreatedSerializer, **OPEN_ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["checkout"],
        description="Start a checkout for a price: creates a pending payment and a Razorpay order, and "
        "returns the options for Razorpay Checkout. The amount is the price's, never the caller's.",
    )
    def post(self, request: Request) -> Response:
        data = CheckoutOrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        checkout = _open(self, request, data.validated_data, GatewayName.RAZORPAY).checkout
        merchant, payment, customer = checkout.merchant, checkout.payment, data.validated_data["customer"]
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


def _open(view: IdempotentApiView, request: Request, values: dict[str, Any], gateway: str) -> services.OpenedCheckout:
    merchant = view.merchant(request)
    customer = values["customer"]
    return services.checkout_order_create(
        merchant=merchant,
        livemode=view.api_key(request).mode == "live",
        price=selectors.price_get(merchant=merchant, public_id=values["price"]),
        quantity=values["quantity"],
        gateway=gateway,
        customer_name=customer.get("name", ""),
        customer_email=customer.get("email", ""),
        customer_contact=customer.get("contact", ""),
        idempotency_reference=view.idempotency_reference,
        actor=view.actor(request),
    )


class StripePaymentIntentCreateApi(IdempotentApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(
        operation_id="checkout_stripe_payment_intents_create",
        request=CheckoutOrderCreateSerializer,
        responses={201: StripeCheckoutCreatedSerializer, **OPEN_ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["checkout"],
        description="Start a checkout for a price through Stripe: creates a pending payment and a "
        "PaymentIntent, and returns what Stripe.js needs (publishable key, client secret). The amount "
        "is the price's, never the caller's.",
    )
    def post(self, request: Request) -> Response:
        data = CheckoutOrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        opened = _open(self, request, data.validated_data, GatewayName.STRIPE)
        payment = opened.checkout.payment
        body = services.checkout_representation(opened.checkout)
        body["stripe"] = {
            "publishable_key": payment.gateway_account.credentials().get("publishable_key", ""),
            "payment_intent": payment.gateway_order_id,
            "client_secret": opened.client_secret,
            "amount": payment.amount,
            "currency": payment.currency,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    def to_store(self, sent: SentResponse) -> SentResponse:
        """The answer kept for an Idempotency-Key replay holds no client secret (whoever holds it can
        confirm the intent): a replay reads it from Stripe again (services.checkout_client_secret)."""
        options = _stripe_options(sent.status, sent.body)
        if options is None or "client_secret" not in options:
            return sent
        held_back = {name: value for name, value in options.items() if name != "client_secret"}
        body = {**sent.body, "stripe": held_back}
        return SentResponse(sent.status, body, JSONRenderer().render(body), sent.content_type)

    def replayed(self, response: Response) -> Response:
        body = json.loads(response.content) if response.content else None
        options = _stripe_options(response.status_code, body)
        if options is None or "client_secret" in options or not isinstance(body, dict):
            return response  # not a start's 201, or one stored before secrets were held back
        checkout = selectors.checkout_get(merchant=self.merchant(self.request), public_id=body["id"])
        secret = services.checkout_client_secret(checkout)
        restored: dict[str, Any] = {}
        for name, value in options.items():  # in the order first sent
            restored[name] = value
            if name == "payment_intent":
                restored["client_secret"] = secret
        return Response({**body, "stripe": restored}, status=response.status_code, headers={REPLAY_HEADER: "true"})


def _stripe_options(status_code: int, body: Any) -> dict[str, Any] | None:
    """The `stripe` options of a Stripe checkout's 201 (None for any other answer)."""
    if status_code != status.HTTP_201_CREATED or not isinstance(body, dict) or "id" not in body:
        return None
    options = body.get("stripe")
    return options if isinstance(options, dict) else None


class StripeConfirmApi(IdempotentApiView):
    permission_classes = PUBLISHABLE

    @extend_schema(
        operation_id="checkout_stripe_confirm",
        request=StripeConfirmSerializer,
        responses={200: CheckoutOutputSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["checkout"],
        description="Stripe.js finished confirming the checkout's PaymentIntent (3-D Secure included). "
        "The intent is retrieved from Stripe, never taken from the browser; a paid one is captured if "
        "needed and grants the entitlement exactly once (the webhook may get there first: same answer).",
    )
    def post(self, request: Request) -> Response:
        data = StripeConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        checkout = services.checkout_confirm(
            merchant=self.merchant(request),
            payment_intent=data.validated_data["payment_intent"],
            actor=self.actor(request),
        )
        checkout.payment.refresh_from_db()
        return Response(services.checkout_representation(checkout))


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
