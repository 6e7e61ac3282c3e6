"""/api/v1/risk/lists: a merchant's own allow and block lists (deployment-wide entries are our
staff's, kept in the admin, and never shown here). Writes go through apps.risk.services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, query_names, takes_no_parameters
from apps.risk import selectors, services
from apps.risk.models import ListAction, ListEntry, ListKind

from .serializers import ListEntryCreateSerializer, ListEntryOutputSerializer, ListEntryQuerySerializer

TAGS = ["risk"]
LIST_PARAMETERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, enum=ListKind.values),
    OpenApiParameter("action", OpenApiTypes.STR, enum=ListAction.values),
    *PAGE_PARAMETERS,
]


@contextmanager
def _as_request_errors() -> Iterator[None]:
    """The services' ValidationError (Django's, as the admin's forms take it) as the API's 400."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None


class ListEntryListCreateApi(IdempotentApiView):
    query_parameters = {"GET": query_names(LIST_PARAMETERS)}

    @extend_schema(
        operation_id="risk_list_entries_list",
        parameters=LIST_PARAMETERS,
        responses=ListEntryOutputSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        """This merchant's allow and block list entries, newest first."""
        query = ListEntryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = selectors.list_entry_list(merchant=self.merchant(request), **query.validated_data)
        paginator = IdCursorPagination()
        page: list[ListEntry] | None = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(ListEntryOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="risk_list_entries_create",
        request=ListEntryCreateSerializer,
        responses={
            201: ListEntryOutputSerializer,
            200: OpenApiResponse(
                ListEntryOutputSerializer,
                description="The value was on that list already: the entry there, unchanged "
                "(its reason and expiry stay)",
            ),
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Put a value on this merchant's allow or block list of its kind. Its entries decide this "
        "merchant's payments only; an allow entry beats a block entry and every rule.",
    )
    def post(self, request: Request) -> Response:
        data = ListEntryCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with _as_request_errors():
            entry, created = services.list_entry_add_or_get(
                merchant=self.merchant(request), **data.validated_data, actor=self.actor(request)
            )
        return Response(
            ListEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ListEntryDetailApi(IdempotentApiView):
    @extend_schema(operation_id="risk_list_entries_retrieve", responses=ListEntryOutputSerializer, tags=TAGS)
    def get(self, request: Request, entry_id: str) -> Response:
        """One of this merchant's list entries."""
        entry = selectors.list_entry_get(merchant=self.merchant(request), public_id=entry_id)
        return Response(ListEntryOutputSerializer(entry).data)

    @extend_schema(
        operation_id="risk_list_entries_delete",
        request=None,
        responses={204: None},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
    )
    def delete(self, request: Request, entry_id: str) -> Response:
        """Take a value off this merchant's list: it no longer decides its payments."""
        takes_no_parameters(request)
        entry = selectors.list_entry_get(merchant=self.merchant(request), public_id=entry_id)
        services.list_entry_remove(entry=entry, actor=self.actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
