from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.customer_scope import Ability
from apps.api.filters import UtcDateTimeFilter
from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, MerchantApiView, query_names, takes_no_parameters
from apps.customers.models import Customer
from apps.customers.selectors import customer_get
from apps.customers.services import customer_find_or_create, payment_method_representation
from apps.gateways.base import BankAccount, Billing, Card, OpaqueToken
from apps.payments import selectors, services
from apps.payments.models import Payment, PaymentStatus, RefundStatus
from apps.payments.representations import (
    payment_for_customer,
    payment_representation,
    refund_for_customer,
    refund_representation,
)

from .serializers import (
    CaptureSerializer,
    PaymentCreateSerializer,
    PaymentOutputSerializer,
    RefundCreateSerializer,
    RefundOutputSerializer,
    SavePaymentMethodSerializer,
)

ERROR_RESPONSES = {
    400: OpenApiResponse(description="Invalid request (error envelope)"),
    402: OpenApiResponse(description="Declined by the gateway (error envelope; the failed payment stays)"),
    404: OpenApiResponse(description="No such object for this merchant"),
    409: OpenApiResponse(description="Conflicting state or an operation in progress"),
    503: OpenApiResponse(description="Gateway unreachable; nothing happened"),
}


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    created_gte = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_lte = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte")
    reference = django_filters.CharFilter(field_name="reference")

    class Meta:
        model = Payment
        fields = ["status", "reference"]


def _payment_method(data: dict[str, Any]) -> tuple[Card | OpaqueToken | BankAccount, Billing]:
    billing = Billing(**data.get("billing_details", {}))
    if data["type"] == "us_bank_account":
        bank = BankAccount(
            data["routing_number"], data["account_number"], data["account_type"], data["account_holder_name"],
            data["echeck_type"],
        )  # fmt: skip
        return bank, billing
    if data["type"] == "card":
        return Card(data["number"], data["exp_month"], data["exp_year"], data.get("cvc", "")), billing
    return OpaqueToken(data["descriptor"], data["value"]), billing


LIST_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=PaymentStatus.values),
    OpenApiParameter("created_gte", OpenApiTypes.DATETIME, description="Created at or after"),
    OpenApiParameter("created_lte", OpenApiTypes.DATETIME, description="Created at or before"),
    OpenApiParameter("reference", OpenApiTypes.STR, description="The merchant's order id"),
    *PAGE_PARAMETERS,
]


class PaymentListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(LIST_PARAMETERS)}
    customer_abilities = {"GET": Ability.PAYMENTS_READ}

    @extend_schema(
        operation_id="payments_list",
        parameters=LIST_PARAMETERS,
        responses=PaymentOutputSerializer(many=True),
        tags=["payments"],
    )
    def get(self, request: Request) -> Response:
        """This merchant's payments, newest first, filtered by status, creation time or reference."""
        payments = selectors.payment_list(merchant=self.merchant(request), customer=self.scoped_customer(request))
        filtered = PaymentFilter(request.query_params, queryset=payments)
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        paginator = IdCursorPagination()
        page: list[Payment] | None = paginator.paginate_queryset(filtered.qs, request, view=self)
        shown = [payment_representation(payment) for payment in page or []]
        if self.scoped_customer(request) is not None:
            shown = [payment_for_customer(body) for body in shown]
        return paginator.get_paginated_response(shown)

    @extend_schema(
        operation_id="payments_create",
        request=PaymentCreateSerializer,
        responses={201: PaymentOutputSerializer, 202: PaymentOutputSerializer, **ERROR_RESPONSES},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["payments"],
        description="Charge a card (capture=true) or authorise it only. 202 means the gateway's answer was "
        "lost: the payment is `unknown` until it is confirmed, and is never charged twice.",
    )
    def post(self, request: Request) -> Response:
        data = PaymentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        merchant = self.merchant(request)
        customer: Customer | None = None
        if isinstance(values.get("customer"), str):
            customer = customer_get(merchant=merchant, public_id=values["customer"])
        elif values.get("customer"):
            customer = customer_find_or_create(merchant=merchant, **values["customer"], actor=self.actor(request))
        payment_method, billing = _payment_method(values["payment_method"])
        if customer is not None and not billing.email:
            billing = Billing(**{**billing.__dict__, "email": customer.email})
        payment = services.payment_create(
            merchant=merchant,
            livemode=self.api_key(request).mode == "live",
            amount=values["amount"],
            currency=values["currency"],
            capture=values["capture"],
            payment_method=payment_method,
            billing=billing,
            customer=customer,
            reference=values["reference"],
            description=values["description"],
            metadata=values["metadata"],
            customer_ip=values["customer_ip"],  # the caller is the merchant's server, not the customer
            idempotency_reference=self.idempotency_reference,
            return_url=values["return_url"],
            site_url=settings.PUBLIC_BASE_URL or request.build_absolute_uri("/"),
            authorization_code=values["payment_method"].get("authorization_code", ""),
            actor=self.actor(request),
        )
        if payment.status in {PaymentStatus.UNKNOWN, PaymentStatus.PENDING}:
            self.outcome_pending = True  # a retry with the key asks again
            return Response(payment_representation(payment), status=status.HTTP_202_ACCEPTED)
        return Response(payment_representation(payment), status=status.HTTP_201_CREATED)


class PaymentDetailApi(MerchantApiView):
    customer_abilities = {"GET": Ability.PAYMENTS_READ}

    @extend_schema(operation_id="payments_retrieve", responses=PaymentOutputSerializer, tags=["payments"])
    def get(self, request: Request, payment_id: str) -> Response:
        """One payment: its amounts (authorized, captured, refunded), card, status and failure."""
        payment = selectors.payment_get(
            merchant=self.merchant(request), public_id=payment_id, customer=self.scoped_customer(request)
        )
        body = payment_representation(payment)
        return Response(body if self.scoped_customer(request) is None else payment_for_customer(body))


def _payment_response(view: IdempotentApiView, payment: Payment) -> Response:
    if payment.operation:
        view.outcome_pending = True  # in flight at the gateway: a retry with the key asks again
        return Response(payment_representation(payment), status=status.HTTP_202_ACCEPTED)
    return Response(payment_representation(payment), status=status.HTTP_200_OK)


class PaymentCaptureApi(IdempotentApiView):
    @extend_schema(
        operation_id="payments_capture",
        request=CaptureSerializer,
        responses={200: PaymentOutputSerializer, 202: PaymentOutputSerializer, **ERROR_RESPONSES},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["payments"],
        description="Capture an authorized payment; `amount` (optional) captures less and releases the rest.",
    )
    def post(self, request: Request, payment_id: str) -> Response:
        data = CaptureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=payment_id)
        payment = services.payment_capture(
            payment=payment,
            amount=data.validated_data.get("amount"),
            idempotency_reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        return _payment_response(self, payment)


class PaymentVoidApi(IdempotentApiView):
    @extend_schema(
        operation_id="payments_void",
        request=None,
        responses={200: PaymentOutputSerializer, 202: PaymentOutputSerializer, **ERROR_RESPONSES},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["payments"],
        description="Void an authorization, or a capture that has not settled yet.",
    )
    def post(self, request: Request, payment_id: str) -> Response:
        takes_no_parameters(request)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=payment_id)
        payment = services.payment_void(
            payment=payment, idempotency_reference=self.idempotency_reference, actor=self.actor(request)
        )
        return _payment_response(self, payment)


class PaymentRefundsApi(IdempotentApiView):
    customer_abilities = {"GET": Ability.PAYMENTS_READ}

    @extend_schema(operation_id="payments_refunds_list", responses=RefundOutputSerializer(many=True), tags=["refunds"])
    def get(self, request: Request, payment_id: str) -> Response:
        """Every refund of a payment, oldest first."""
        customer = self.scoped_customer(request)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=payment_id, customer=customer)
        refunds = selectors.refund_list(merchant=self.merchant(request)).filter(payment=payment).order_by("id")
        data: list[dict[str, Any]] = list(RefundOutputSerializer(refunds, many=True).data)
        if customer is not None:
            data = [refund_for_customer(body) for body in data]
        return Response({"object": "list", "data": data, "has_more": False, "next": None, "previous": None})

    @extend_schema(
        operation_id="payments_refunds_create",
        request=RefundCreateSerializer,
        responses={201: RefundOutputSerializer, 202: RefundOutputSerializer, **ERROR_RESPONSES},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["refunds"],
        description="Refund a captured payment: `amount` (optional) refunds part, else all that is left. "
        "Large refunds answer 202 with status `pending_approval` until finance approves them.",
    )
    def post(self, request: Request, payment_id: str) -> Response:
        data = RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=payment_id)
        refund = services.refund_create(
            payment=payment,
            amount=data.validated_data.get("amount"),
            reason=data.validated_data["reason"],
            idempotency_reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        code = status.HTTP_201_CREATED if refund.status == RefundStatus.SUCCEEDED else status.HTTP_202_ACCEPTED
        # Waiting for an approver is an answer; waiting for the gateway is not (a retry asks again).
        self.outcome_pending = refund.status in {RefundStatus.PENDING, RefundStatus.UNKNOWN}
        return Response(refund_representation(refund), status=code)


class PaymentSavePaymentMethodApi(IdempotentApiView):
    @extend_schema(
        operation_id="payments_save_payment_method",
        request=SavePaymentMethodSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["payments"],
        description="Save the card of a succeeded card payment as a payment method of `customer` (default: "
        "the payment's customer), from the gateway's record of the payment: the card is never sent again. "
        "Saving it again returns the same payment method. 409 for a payment that did not succeed, was not "
        "made with a card, or whose gateway cannot save a past payment's card (only Authorize.Net can).",
    )
    def post(self, request: Request, payment_id: str) -> Response:
        data = SavePaymentMethodSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = self.merchant(request)
        payment = selectors.payment_get(merchant=merchant, public_id=payment_id)
        customer_id = data.validated_data.get("customer")
        method = services.payment_card_save(
            payment=payment,
            customer=customer_get(merchant=merchant, public_id=customer_id) if customer_id else None,
            reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        return Response(payment_method_representation(method), status=status.HTTP_201_CREATED)


class RefundDetailApi(MerchantApiView):
    customer_abilities = {"GET": Ability.PAYMENTS_READ}

    @extend_schema(operation_id="refunds_retrieve", responses=RefundOutputSerializer, tags=["refunds"])
    def get(self, request: Request, refund_id: str) -> Response:
        """One refund: its amount, status (pending approval, pending, succeeded, failed) and reason."""
        refund = selectors.refund_get(
            merchant=self.merchant(request), public_id=refund_id, customer=self.scoped_customer(request)
        )
        body = refund_representation(refund)
        return Response(body if self.scoped_customer(request) is None else refund_for_customer(body))
