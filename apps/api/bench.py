"""The benchmark baseline: the smallest authenticated DRF endpoint that inserts one row.

Mounted only when BENCHMARK_ENDPOINTS_ENABLED is on (the `make bench` settings).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from .models import BenchmarkRow
from .views import IDEMPOTENCY_PARAMETER, IdempotentApiView


class BenchmarkRowCreateApi(IdempotentApiView):
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        note = serializers.CharField()

    @extend_schema(exclude=True, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = BenchmarkRow.objects.create(merchant=self.merchant(request), note=data.validated_data.get("note", ""))
        return Response(self.OutputSerializer(row).data, status=status.HTTP_201_CREATED)


class BenchmarkSdkSaleApi(IdempotentApiView):
    """The floor under any purchase: the same Authorize.Net SDK call against the same sandbox,
    through the same adapter, storing nothing."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        from apps.gateways.base import Card, ChargeRequest
        from apps.gateways.registry import gateway_for
        from apps.payments.models import new_gateway_reference
        from apps.payments.services import gateway_account_for

        account = gateway_account_for(merchant=self.merchant(request), livemode=False)
        result = gateway_for(account).sale(
            ChargeRequest(new_gateway_reference(), 1050, "USD", Card("4111111111111111", 12, 2030, "123"))
        )
        return Response({"transaction_id": result.transaction_id}, status=status.HTTP_201_CREATED)
