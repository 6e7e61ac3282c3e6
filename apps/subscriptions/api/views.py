"""/api/v1/plans and /api/v1/subscriptions."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.customer_scope import Ability
from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, query_names, takes_no_parameters
from apps.customers.selectors import customer_get, payment_method_get
from apps.payments.representations import failure_for_customer
from apps.subscriptions import billing, representations, selectors, services
from apps.subscriptions.models import Plan, Subscription, SubscriptionStatus

from .serializers import (
    PlanCreateSerializer,
    PlanUpdateSerializer,
    SubscriptionCancelSerializer,
    SubscriptionChangeSerializer,
    SubscriptionCreateSerializer,
)

ERRORS = {
    400: OpenApiResponse(description="Invalid request (error envelope); nothing changed"),
    402: OpenApiResponse(description="The first charge was declined; the subscription is canceled"),
    404: OpenApiResponse(description="No such object for this merchant"),
    409: OpenApiResponse(description="Not allowed in the subscription's state"),
    503: OpenApiResponse(description="Gateway unreachable"),
}
TAGS = ["subscriptions"]
PAGING = PAGE_PARAMETERS
SUBSCRIPTION_LIST_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=SubscriptionStatus.values),
    OpenApiParameter("customer", OpenApiTypes.STR, description="cus_…"),
    OpenApiParameter("plan", OpenApiTypes.STR, description="plan_…"),
    *PAGE_PARAMETERS,
]


class PlanListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(PAGING)}

    @extend_schema(operation_id="plans_list", parameters=PAGING, responses=OpenApiTypes.OBJECT, tags=TAGS)
    def get(self, request: Request) -> Response:
        """This merchant's subscription plans, newest first."""
        paginator = IdCursorPagination()
        page: list[Plan] | None = paginator.paginate_queryset(
            selectors.plan_list(merchant=self.merchant(request)), request, view=self
        )
        return paginator.get_paginated_response([representations.plan_representation(plan) for plan in page or []])

    @extend_schema(
        operation_id="plans_create",
        request=PlanCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        """Create a plan: an amount charged every interval (day, week, month, year), with an optional trial."""
        data = PlanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.plan_create(merchant=self.merchant(request), **data.validated_data, actor=self.actor(request))
        return Response(representations.plan_representation(plan), status=status.HTTP_201_CREATED)


class PlanDetailApi(IdempotentApiView):
    @extend_schema(operation_id="plans_retrieve", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, plan_id: str) -> Response:
        """One plan."""
        plan = selectors.plan_get(merchant=self.merchant(request), public_id=plan_id)
        return Response(representations.plan_representation(plan))

    @extend_schema(
        operation_id="plans_update",
        request=PlanUpdateSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Rename, retire (active=false) or annotate a plan. Amount and interval never change: "
        "make a new plan and move subscriptions to it.",
    )
    def patch(self, request: Request, plan_id: str) -> Response:
        plan = selectors.plan_get(merchant=self.merchant(request), public_id=plan_id)
        data = PlanUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.plan_update(plan=plan, changes=data.validated_data, actor=self.actor(request))
        return Response(representations.plan_representation(plan))


class SubscriptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices)
    customer = django_filters.CharFilter(field_name="customer__public_id")
    plan = django_filters.CharFilter(field_name="plan__public_id")

    class Meta:
        model = Subscription
        fields = ["status"]


def _shown(view: IdempotentApiView, request: Request, subscription: Subscription) -> dict[str, Any]:
    """The subscription as the caller sees it: all of it for the merchant, less for its customer."""
    body = representations.subscription_representation(subscription)
    return body if view.scoped_customer(request) is None else representations.subscription_for_customer(body)


class SubscriptionListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(SUBSCRIPTION_LIST_PARAMETERS)}
    customer_abilities = {"GET": Ability.SUBSCRIPTIONS_READ}

    @extend_schema(
        operation_id="subscriptions_list",
        parameters=SUBSCRIPTION_LIST_PARAMETERS,
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        """This merchant's subscriptions, newest first, filtered by status, customer or plan."""
        filtered = SubscriptionFilter(
            request.query_params,
            queryset=selectors.subscription_list(
                merchant=self.merchant(request), customer=self.scoped_customer(request)
            ),
        )
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        paginator = IdCursorPagination()
        page: list[Subscription] | None = paginator.paginate_queryset(filtered.qs, request, view=self)
        return paginator.get_paginated_response([_shown(self, request, s) for s in page or []])

    @extend_schema(
        operation_id="subscriptions_create",
        request=SubscriptionCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Subscribe a customer to a plan with a saved card (default: the customer's default card). "
        "Without a trial the first period is charged at once; if that charge is declined the answer is 402 "
        "and the subscription is canceled.",
    )
    def post(self, request: Request) -> Response:
        data = SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        merchant = self.merchant(request)
        customer = customer_get(merchant=merchant, public_id=values["customer"])
        plan = selectors.plan_get(merchant=merchant, public_id=values["plan"], param="plan")
        method = (
            payment_method_get(customer=customer, public_id=values["payment_method"])
            if values.get("payment_method")
            else None
        )
        subscription = services.subscription_create(
            merchant=merchant,
            customer=customer,
            plan=plan,
            payment_method=method,
            livemode=self.api_key(request).mode == "live",
            trial_days=values.get("trial_days"),
            metadata=values["metadata"],
            idempotency_reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        services.raise_if_initial_payment_failed(subscription)
        self.outcome_pending = selectors.subscription_initial_payment_pending(subscription)
        return Response(representations.subscription_representation(subscription), status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(IdempotentApiView):
    customer_abilities = {"GET": Ability.SUBSCRIPTIONS_READ}

    @extend_schema(operation_id="subscriptions_retrieve", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, subscription_id: str) -> Response:
        """One subscription: its plan, card, status and current period."""
        subscription = selectors.subscription_get(
            merchant=self.merchant(request), public_id=subscription_id, customer=self.scoped_customer(request)
        )
        return Response(_shown(self, request, subscription))

    @extend_schema(
        operation_id="subscriptions_change",
        request=SubscriptionChangeSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Change the plan (from the next period) or the card (from the next charge). A gateway-run "
        "(ARB) subscription is changed at the gateway at once; its plan must keep the interval.",
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        merchant = self.merchant(request)
        subscription = selectors.subscription_get(merchant=merchant, public_id=subscription_id)
        data = SubscriptionChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        plan = (
            selectors.plan_get(merchant=merchant, public_id=values["plan"], param="plan") if "plan" in values else None
        )
        method = (
            payment_method_get(customer=subscription.customer, public_id=values["payment_method"])
            if "payment_method" in values
            else None
        )
        subscription = services.subscription_change(
            subscription=subscription,
            plan=plan,
            payment_method=method,
            idempotency_reference=self.idempotency_reference,
            actor=self.actor(request),
        )
        return Response(representations.subscription_representation(subscription))


class SubscriptionCancelApi(IdempotentApiView):
    customer_abilities = {"POST": Ability.SUBSCRIPTIONS_MANAGE}

    @extend_schema(
        operation_id="subscriptions_cancel",
        request=SubscriptionCancelSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Cancel now (an unpaid invoice is voided) or at the end of the current period. A customer "
        "session token cancels only at the period's end (`at_period_end: true`).",
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        subscription = selectors.subscription_get(
            merchant=self.merchant(request), public_id=subscription_id, customer=self.scoped_customer(request)
        )
        data = SubscriptionCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if self.scoped_customer(request) is not None and not data.validated_data["at_period_end"]:
            # What was paid for runs to its end; ending it at once (and voiding what is owed) is the merchant's call.
            raise ValidationError(
                {"at_period_end": [ErrorDetail("A customer cancels at the period's end: send true.", code="invalid")]}
            )
        subscription = services.subscription_cancel(
            subscription=subscription, at_period_end=data.validated_data["at_period_end"], actor=self.actor(request)
        )
        return Response(_shown(self, request, subscription))


class SubscriptionPauseApi(IdempotentApiView):
    customer_abilities = {"POST": Ability.SUBSCRIPTIONS_MANAGE}

    @extend_schema(
        operation_id="subscriptions_pause",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        """Pause billing: no charge until resumed (the current period runs to its end)."""
        takes_no_parameters(request)
        subscription = selectors.subscription_get(
            merchant=self.merchant(request), public_id=subscription_id, customer=self.scoped_customer(request)
        )
        subscription = services.subscription_pause(subscription=subscription, actor=self.actor(request))
        return Response(_shown(self, request, subscription))


class SubscriptionResumeApi(IdempotentApiView):
    customer_abilities = {"POST": Ability.SUBSCRIPTIONS_MANAGE}

    @extend_schema(
        operation_id="subscriptions_resume",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Resume billing. A period that ran out while paused starts again now; what is owed is retried now.",
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        takes_no_parameters(request)
        subscription = selectors.subscription_get(
            merchant=self.merchant(request), public_id=subscription_id, customer=self.scoped_customer(request)
        )
        subscription = services.subscription_resume(subscription=subscription, actor=self.actor(request))
        if subscription.next_billing_at is not None and subscription.status == SubscriptionStatus.PAST_DUE:
            billing.subscription_bill(
                subscription_id=subscription.pk, as_of=subscription.next_billing_at, actor=self.actor(request)
            )
            subscription = selectors.subscription_get(merchant=self.merchant(request), public_id=subscription_id)
        return Response(_shown(self, request, subscription))


class SubscriptionInvoicesApi(IdempotentApiView):
    customer_abilities = {"GET": Ability.INVOICES_READ}

    @extend_schema(operation_id="subscriptions_invoices", responses={200: OpenApiTypes.OBJECT, **ERRORS}, tags=TAGS)
    def get(self, request: Request, subscription_id: str) -> Response:
        """A subscription's invoices with each billing attempt, newest first."""
        subscription = selectors.subscription_get(
            merchant=self.merchant(request), public_id=subscription_id, customer=self.scoped_customer(request)
        )
        invoices = selectors.invoices_for(subscription=subscription)
        customer_scoped = self.scoped_customer(request) is not None
        data = []
        for invoice in invoices:
            body = representations.invoice_representation(invoice)
            body["attempts"] = [
                {
                    "number": attempt.number,
                    "status": attempt.status,
                    "payment": attempt.payment.public_id,
                    "failure_code": (
                        failure_for_customer(attempt.failure_code or None)[0]
                        if customer_scoped
                        else attempt.failure_code or None
                    ),
                    "created_at": attempt.created_at,
                }
                for attempt in invoice.attempts.all()
            ]
            data.append(body)
        return Response({"object": "list", "data": data, "has_more": False, "next": None, "previous": None})
