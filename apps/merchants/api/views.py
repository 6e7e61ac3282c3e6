from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.pagination import PAGE_PARAMETERS, IdCursorPagination
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, MerchantApiView, query_names, takes_no_parameters
from apps.merchants.selectors import api_key_get, api_key_list
from apps.merchants.services import api_key_revoke

from .serializers import ApiKeyOutputSerializer, MerchantOutputSerializer


class MerchantDetailApi(MerchantApiView):
    @extend_schema(operation_id="merchant_retrieve", responses=MerchantOutputSerializer, tags=["merchant"])
    def get(self, request: Request) -> Response:
        """The merchant the calling key belongs to."""
        return Response(MerchantOutputSerializer(self.merchant(request)).data)


class ApiKeyListApi(MerchantApiView):
    query_parameters = {"GET": query_names(PAGE_PARAMETERS)}

    @extend_schema(
        operation_id="api_keys_list",
        parameters=PAGE_PARAMETERS,
        responses=ApiKeyOutputSerializer(many=True),
        tags=["api keys"],
    )
    def get(self, request: Request) -> Response:
        """This merchant's API keys, newest first (prefixes only: a secret is shown once, when issued)."""
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(api_key_list(merchant=self.merchant(request)), request, view=self)
        return paginator.get_paginated_response(ApiKeyOutputSerializer(page, many=True).data)


class ApiKeyDetailApi(MerchantApiView):
    @extend_schema(operation_id="api_keys_retrieve", responses=ApiKeyOutputSerializer, tags=["api keys"])
    def get(self, request: Request, key_id: str) -> Response:
        """One API key of this merchant (its prefix, mode, scope and when it was last used)."""
        api_key = api_key_get(merchant=self.merchant(request), public_id=key_id)
        return Response(ApiKeyOutputSerializer(api_key).data)


class ApiKeyRevokeApi(IdempotentApiView):
    @extend_schema(
        operation_id="api_keys_revoke",
        request=None,
        responses=ApiKeyOutputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["api keys"],
        description="Revoke a key of this merchant (the calling key included, to roll a leaked key). "
        "Revoking a revoked key returns it unchanged.",
    )
    def post(self, request: Request, key_id: str) -> Response:
        takes_no_parameters(request)
        api_key = api_key_get(merchant=self.merchant(request), public_id=key_id)
        api_key = api_key_revoke(api_key=api_key, actor=self.actor(request))
        return Response(ApiKeyOutputSerializer(api_key).data)
