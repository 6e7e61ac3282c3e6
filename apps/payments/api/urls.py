from django.urls import path

from . import views

urlpatterns = [
    path("payments", views.PaymentListCreateApi.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", views.PaymentDetailApi.as_view(), name="payment-detail"),
    path("payments/<str:payment_id>/capture", views.PaymentCaptureApi.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/void", views.PaymentVoidApi.as_view(), name="payment-void"),
    path("payments/<str:payment_id>/refunds", views.PaymentRefundsApi.as_view(), name="payment-refunds"),
    path(
        "payments/<str:payment_id>/save-payment-method",
        views.PaymentSavePaymentMethodApi.as_view(),
        name="payment-save-payment-method",
    ),
    path("refunds/<str:refund_id>", views.RefundDetailApi.as_view(), name="refund-detail"),
]
