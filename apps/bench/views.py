"""The benchmark's baselines: the smallest authenticated DRF endpoint that inserts one row, and the
floors under a purchase and a checkout (the same SDK calls, storing nothing). Mounted at
/api/v1/bench/ where this app is installed (the bench and test settings)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView
from apps.gateways.base import Card, ChargeRequest, OrderRequest
from apps.gateways.registry import checkout_gateway_for, gateway_for
from apps.gateways.selectors import gateway_account_for
from apps.payments.models import new_gateway_reference

from .models import BenchmarkRow


class BenchmarkRowCreateApi(IdempotentApiView):
    class InputSerializer(serializers.Serializer[Any]):
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer[Any]):
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
        account = gateway_account_for(merchant=self.merchant(request), livemode=False, gateway="authorizenet")
        result = gateway_for(account).sale(
            ChargeRequest(new_gateway_reference(), 1050, "USD", Card("4111111111111111", 12, 2030, "123"))
        )
        return Response({"transaction_id": result.transaction_id}, status=status.HTTP_201_CREATED)


class BenchmarkStripeSaleApi(IdempotentApiView):
    """The floor under a Stripe purchase: the same PaymentIntent create-and-confirm through the same
    adapter and SDK against the same sandbox, storing nothing."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        account = gateway_account_for(merchant=self.merchant(request), livemode=False, gateway="stripe")
        result = gateway_for(account).sale(
            ChargeRequest(new_gateway_reference(), 1050, "USD", Card("4242424242424242", 12, 2030, "123"))
        )
        return Response({"transaction_id": result.transaction_id}, status=status.HTTP_201_CREATED)


class BenchmarkRazorpayOrderApi(IdempotentApiView):
    """The floor under a checkout's order step: the same Razorpay SDK order.create against the
    same sandbox, through the same adapter, storing nothing."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        account = gateway_account_for(merchant=self.merchant(request), livemode=False, gateway="razorpay")
        order = checkout_gateway_for(account).create_order(OrderRequest(new_gateway_reference(), 49_900, "INR"))
        key = account.credentials()["key_id"]
        return Response({"razorpay": {"order_id": order.order_id, "key": key}}, status=status.HTTP_201_CREATED)


class BenchmarkRazorpayVerifyApi(IdempotentApiView):
    """The floor under verify: the signature check and the SDK's payment fetch, storing nothing."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        account = gateway_account_for(merchant=self.merchant(request), livemode=False, gateway="razorpay")
        gateway = checkout_gateway_for(account)
        data: dict[str, str] = request.data  # type: ignore[assignment]
        if not gateway.checkout_signature_valid(
            order_id=data["razorpay_order_id"],
            payment_id=data["razorpay_payment_id"],
            signature=data["razorpay_signature"],
        ):
            return Response({"error": "signature"}, status=status.HTTP_400_BAD_REQUEST)
        paid = gateway.fetch_payment(data["razorpay_payment_id"])
        return Response({"status": paid.status})
