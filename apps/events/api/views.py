from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.filters import UtcDateTimeFilter
from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, MerchantApiView, query_names, takes_no_parameters
from apps.events import endpoints, selectors
from apps.events.models import Event

from .serializers import (
    EVENT_TYPE_CHOICES,
    EndpointCreateSerializer,
    EndpointOutputSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EventOutputSerializer,
)


class EventFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(field_name="type", choices=[(name, name) for name in EVENT_TYPE_CHOICES[:-1]])
    created_gte = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_lte = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte")
    object_id = django_filters.CharFilter(field_name="object_id")

    class Meta:
        model = Event
        fields = ["type", "object_id"]


LIST_PARAMETERS = [
    OpenApiParameter("type", OpenApiTypes.STR, enum=EVENT_TYPE_CHOICES[:-1]),
    OpenApiParameter("object_id", OpenApiTypes.STR, description="Events about this object (pay_…, re_…)"),
    OpenApiParameter("created_gte", OpenApiTypes.DATETIME, description="Created at or after"),
    OpenApiParameter("created_lte", OpenApiTypes.DATETIME, description="Created at or before"),
    *PAGE_PARAMETERS,
]


class EventListApi(MerchantApiView):
    query_parameters = {"GET": query_names(LIST_PARAMETERS)}

    @extend_schema(
        operation_id="events_list",
        parameters=LIST_PARAMETERS,
        responses=EventOutputSerializer(many=True),
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        """Events that happened to this merchant's objects, newest first (what webhooks deliver)."""
        filtered = EventFilter(request.query_params, queryset=selectors.event_list(merchant=self.merchant(request)))
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        paginator = IdCursorPagination()
        page: list[Event] | None = paginator.paginate_queryset(filtered.qs, request, view=self)
        return paginator.get_paginated_response(EventOutputSerializer(page, many=True).data)


class EventDetailApi(MerchantApiView):
    @extend_schema(operation_id="events_retrieve", responses=EventOutputSerializer, tags=["events"])
    def get(self, request: Request, event_id: str) -> Response:
        """One event, with the object as it was when the event happened."""
        event = selectors.event_get(merchant=self.merchant(request), public_id=event_id)
        return Response(EventOutputSerializer(event).data)


class EndpointListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(PAGE_PARAMETERS)}

    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=PAGE_PARAMETERS,
        responses=EndpointOutputSerializer(many=True),
        tags=["webhooks"],
    )
    def get(self, request: Request) -> Response:
        """This merchant's webhook endpoints (never their secrets)."""
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            selectors.webhook_endpoint_list(merchant=self.merchant(request)), request, view=self
        )
        return paginator.get_paginated_response(EndpointOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=EndpointCreateSerializer,
        responses={201: EndpointWithSecretSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["webhooks"],
        description="Events are signed per Standard Webhooks with the `whsec_` secret, shown only here.",
    )
    def post(self, request: Request) -> Response:
        data = EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = endpoints.webhook_endpoint_create(
            merchant=self.merchant(request), actor=self.actor(request), **data.validated_data
        )
        body = EndpointWithSecretSerializer(issued.endpoint, context={"secret": issued.secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointDetailApi(IdempotentApiView):
    @extend_schema(operation_id="webhook_endpoints_retrieve", responses=EndpointOutputSerializer, tags=["webhooks"])
    def get(self, request: Request, endpoint_id: str) -> Response:
        """One webhook endpoint (never its secret)."""
        endpoint = selectors.webhook_endpoint_get(merchant=self.merchant(request), public_id=endpoint_id)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=EndpointUpdateSerializer,
        responses=EndpointOutputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["webhooks"],
        description="Change the URL, subscribed types or description; `enabled: true` re-enables a disabled one.",
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        data = EndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = selectors.webhook_endpoint_get(merchant=self.merchant(request), public_id=endpoint_id)
        endpoint = endpoints.webhook_endpoint_update(
            endpoint=endpoint, actor=self.actor(request), **data.validated_data
        )
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        request=None,
        responses={204: None},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["webhooks"],
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        """Delete a webhook endpoint: nothing more is delivered to it."""
        takes_no_parameters(request)
        endpoint = selectors.webhook_endpoint_get(merchant=self.merchant(request), public_id=endpoint_id)
        endpoints.webhook_endpoint_delete(endpoint=endpoint, actor=self.actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(IdempotentApiView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=None,
        responses=EndpointWithSecretSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["webhooks"],
        description="A new secret, shown once. For 24 hours deliveries carry signatures with both secrets.",
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        takes_no_parameters(request)
        endpoint = selectors.webhook_endpoint_get(merchant=self.merchant(request), public_id=endpoint_id)
        issued = endpoints.webhook_endpoint_rotate_secret(endpoint=endpoint, actor=self.actor(request))
        return Response(EndpointWithSecretSerializer(issued.endpoint, context={"secret": issued.secret}).data)
