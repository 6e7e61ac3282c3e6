"""/api/v1/customers and their saved cards."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.customer_scope import Ability
from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, query_names, takes_no_parameters
from apps.core.errors import NotFoundError
from apps.customers import card_changes, selectors, services
from apps.customers.checkout_setups import checkout_setup_representation, payment_method_checkout_setup
from apps.customers.models import Customer
from apps.customers.selectors import customer_get
from apps.gateways.base import Billing, Card, OpaqueToken

from .serializers import (
    CustomerCreateSerializer,
    CustomerUpdateSerializer,
    PaymentMethodAddSerializer,
    PaymentMethodUpdateSerializer,
)

ERRORS = {
    400: OpenApiResponse(description="Invalid request (error envelope); nothing changed"),
    402: OpenApiResponse(description="The card was declined when checked; nothing saved"),
    404: OpenApiResponse(description="No such customer or card for this merchant"),
    409: OpenApiResponse(
        description="Not allowed in this state (a card paying a live subscription, a gateway that cannot "
        "change a saved card ...)"
    ),
    503: OpenApiResponse(description="Gateway unreachable; nothing saved"),
}
TAGS = ["customers"]


class CustomerListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(PAGE_PARAMETERS)}

    @extend_schema(operation_id="customers_list", parameters=PAGE_PARAMETERS, responses=OpenApiTypes.OBJECT, tags=TAGS)
    def get(self, request: Request) -> Response:
        """This merchant's customers, newest first."""
        paginator = IdCursorPagination()
        page: list[Customer] | None = paginator.paginate_queryset(
            selectors.customer_list(merchant=self.merchant(request)), request, view=self
        )
        return paginator.get_paginated_response([services.customer_representation(c) for c in page or []])

    @extend_schema(
        operation_id="customers_create",
        request=CustomerCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        """Create a customer. The same email again finds the customer made first, never a second one."""
        data = CustomerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_create(
            merchant=self.merchant(request), **data.validated_data, actor=self.actor(request)
        )
        return Response(services.customer_representation(customer), status=status.HTTP_201_CREATED)


class CustomerDetailApi(IdempotentApiView):
    @extend_schema(operation_id="customers_retrieve", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, customer_id: str) -> Response:
        """One customer, with their default saved card."""
        customer = customer_get(merchant=self.merchant(request), public_id=customer_id)
        return Response(services.customer_representation(customer))

    @extend_schema(
        operation_id="customers_update",
        request=CustomerUpdateSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def patch(self, request: Request, customer_id: str) -> Response:
        """Change a customer's name, email, phone or metadata (only the fields sent)."""
        customer = customer_get(merchant=self.merchant(request), public_id=customer_id)
        data = CustomerUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_update(customer=customer, changes=data.validated_data, actor=self.actor(request))
        return Response(services.customer_representation(customer))


def _card(values: dict[str, Any]) -> tuple[Card | OpaqueToken, Billing]:
    billing = Billing(**values.get("billing_details", {}))
    if values["type"] == "card":
        return Card(values["number"], values["exp_month"], values["exp_year"], values.get("cvc", "")), billing
    return OpaqueToken(values["descriptor"], values["value"]), billing


def _visible_customer(view: IdempotentApiView, request: Request, customer_id: str) -> Customer:
    """The customer of the path; a customer session sees only its own (any other is not found)."""
    scoped = view.scoped_customer(request)
    if scoped is not None and scoped != customer_id:
        raise NotFoundError(f"No such customer: {customer_id!r}.", param="customer")
    return customer_get(merchant=view.merchant(request), public_id=customer_id)


class PaymentMethodListCreateApi(IdempotentApiView):
    customer_abilities = {"GET": Ability.PAYMENT_METHODS_MANAGE, "POST": Ability.PAYMENT_METHODS_MANAGE}

    @extend_schema(operation_id="payment_methods_list", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, customer_id: str) -> Response:
        """A customer's saved cards (brand, last four, expiry; the card stays at the gateway's vault)."""
        customer = _visible_customer(self, request, customer_id)
        methods = selectors.payment_method_list(customer=customer)
        data = [services.payment_method_representation(m) for m in methods]
        return Response({"object": "list", "data": data, "has_more": False, "next": None, "previous": None})

    @extend_schema(
        operation_id="payment_methods_add",
        request=PaymentMethodAddSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Save a card at the gateway's vault (checked with a zero-value authorisation). Only the "
        "gateway's tokens, the brand, the last four digits and the expiry are kept here. A customer session "
        "token may save only a gateway token (opaque_data), never card numbers, and may give a `return_url` only "
        "at an origin listed in CORS_ALLOWED_ORIGINS (400 parameter_invalid otherwise); your secret key sets any.",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = _visible_customer(self, request, customer_id)
        scoped = self.scoped_customer(request) is not None
        data = PaymentMethodAddSerializer(data=request.data, context={"customer_scoped": scoped})
        data.is_valid(raise_exception=True)
        payment, billing = _card(data.validated_data)
        method = services.payment_method_add(
            customer=customer,
            livemode=self.livemode(request),
            payment=payment,
            billing=billing,
            make_default=data.validated_data["set_default"],
            return_url=data.validated_data["return_url"],
            site_url=settings.PUBLIC_BASE_URL or request.build_absolute_uri("/"),
            reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        return Response(services.payment_method_representation(method), status=status.HTTP_201_CREATED)


class PaymentMethodCheckoutSetupApi(IdempotentApiView):
    customer_abilities = {"POST": Ability.PAYMENT_METHODS_MANAGE}

    @extend_schema(
        operation_id="payment_methods_checkout_setup",
        request=None,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Where the merchant's cards are saved at a gateway that saves a card only as the customer "
        "pays with it in its own page (Razorpay): a setup order, authorised for `amount` and never captured. "
        "Open the gateway's checkout on it (Razorpay: `key_id`, `order_id`, `customer_id`, `recurring: 1`), "
        "then add the card (POST …/payment-methods, type opaque_data) with `descriptor` `token_descriptor` "
        "and `value` `razorpay_order_id|razorpay_payment_id|razorpay_signature`. Other gateways answer 409 "
        "vault_not_supported: they tokenise the card in the browser directly.",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        takes_no_parameters(request)
        customer = _visible_customer(self, request, customer_id)
        setup = payment_method_checkout_setup(customer=customer, livemode=self.livemode(request))
        return Response(checkout_setup_representation(setup), status=status.HTTP_201_CREATED)


class PaymentMethodDetailApi(IdempotentApiView):
    customer_abilities = {"GET": Ability.PAYMENT_METHODS_MANAGE, "DELETE": Ability.PAYMENT_METHODS_MANAGE}

    @extend_schema(operation_id="payment_methods_retrieve", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, customer_id: str, payment_method_id: str) -> Response:
        """One saved card of a customer."""
        customer = _visible_customer(self, request, customer_id)
        method = selectors.payment_method_get(customer=customer, public_id=payment_method_id, param="id")
        return Response(services.payment_method_representation(method))

    @extend_schema(
        operation_id="payment_methods_update",
        request=PaymentMethodUpdateSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Change a saved card's expiry (`exp_month` and `exp_year` together) and/or its "
        "`billing_address` (replaced as a whole) at the gateway's vault, without the card number. The "
        "gateway checks the changed card (402 if refused: nothing changes). Gateways whose vault cannot "
        "change a card (Razorpay has none) answer 409 card_update_not_supported.",
    )
    def patch(self, request: Request, customer_id: str, payment_method_id: str) -> Response:
        customer = customer_get(merchant=self.merchant(request), public_id=customer_id)
        method = selectors.payment_method_get(customer=customer, public_id=payment_method_id, param="id")
        data = PaymentMethodUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        method = card_changes.payment_method_update(
            method=method,
            exp_month=values.get("exp_month"),
            exp_year=values.get("exp_year"),
            billing=Billing(**values["billing_address"]) if "billing_address" in values else None,
            reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        return Response(services.payment_method_representation(method))

    @extend_schema(
        operation_id="payment_methods_remove",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Remove a saved card (refused while a live subscription pays with it). It is deleted "
        "from the gateway's vault shortly after.",
    )
    def delete(self, request: Request, customer_id: str, payment_method_id: str) -> Response:
        takes_no_parameters(request)
        customer = _visible_customer(self, request, customer_id)
        method = selectors.payment_method_get(customer=customer, public_id=payment_method_id, param="id")
        method = services.payment_method_remove(method=method, actor=self.actor(request))
        return Response(services.payment_method_representation(method))


class PaymentMethodDefaultApi(IdempotentApiView):
    customer_abilities = {"POST": Ability.PAYMENT_METHODS_MANAGE}

    @extend_schema(
        operation_id="payment_methods_set_default",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def post(self, request: Request, customer_id: str, payment_method_id: str) -> Response:
        """Make this saved card the customer's default (new subscriptions charge it)."""
        takes_no_parameters(request)
        customer = _visible_customer(self, request, customer_id)
        method = selectors.payment_method_get(customer=customer, public_id=payment_method_id, param="id")
        method = services.payment_method_set_default(method=method, actor=self.actor(request))
        return Response(services.payment_method_representation(method))
