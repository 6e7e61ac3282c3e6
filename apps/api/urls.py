"""/api/v1/: every app's API routes, versioned in one place."""

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from .bench import (
    BenchmarkRazorpayOrderApi,
    BenchmarkRazorpayVerifyApi,
    BenchmarkRowCreateApi,
    BenchmarkSdkSaleApi,
)

app_name = "v1"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("apps.merchants.api.urls")),
    path("", include("apps.payments.api.urls")),
    path("", include("apps.webhooks.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.customers.api.urls")),
    path("", include("apps.subscriptions.api.urls")),
    path("", include("apps.reports.api.urls")),
]

if settings.BENCHMARK_ENDPOINTS_ENABLED:
    urlpatterns += [
        path("bench/rows", BenchmarkRowCreateApi.as_view(), name="bench-rows"),
        path("bench/sdk-sale", BenchmarkSdkSaleApi.as_view(), name="bench-sdk-sale"),
        path("bench/razorpay-order", BenchmarkRazorpayOrderApi.as_view(), name="bench-razorpay-order"),
        path("bench/razorpay-verify", BenchmarkRazorpayVerifyApi.as_view(), name="bench-razorpay-verify"),
    ]
