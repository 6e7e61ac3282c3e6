from django.urls import path

from .views import (
    BenchmarkRazorpayOrderApi,
    BenchmarkRazorpayVerifyApi,
    BenchmarkRowCreateApi,
    BenchmarkSdkSaleApi,
    BenchmarkStripeSaleApi,
)

urlpatterns = [
    path("rows", BenchmarkRowCreateApi.as_view(), name="bench-rows"),
    path("sdk-sale", BenchmarkSdkSaleApi.as_view(), name="bench-sdk-sale"),
    path("stripe-sale", BenchmarkStripeSaleApi.as_view(), name="bench-stripe-sale"),
    path("razorpay-order", BenchmarkRazorpayOrderApi.as_view(), name="bench-razorpay-order"),
    path("razorpay-verify", BenchmarkRazorpayVerifyApi.as_view(), name="bench-razorpay-verify"),
]
