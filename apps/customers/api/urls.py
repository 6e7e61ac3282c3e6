from django.urls import path

from . import views

urlpatterns = [
    path("customers", views.CustomerListCreateApi.as_view(), name="customer-list"),
    path("customers/<str:customer_id>", views.CustomerDetailApi.as_view(), name="customer-detail"),
    path(
        "customers/<str:customer_id>/payment-methods",
        views.PaymentMethodListCreateApi.as_view(),
        name="payment-method-list",
    ),
    path(
        "customers/<str:customer_id>/payment-methods/checkout-setup",
        views.PaymentMethodCheckoutSetupApi.as_view(),
        name="payment-method-checkout-setup",
    ),
    path(
        "customers/<str:customer_id>/payment-methods/<str:payment_method_id>",
        views.PaymentMethodDetailApi.as_view(),
        name="payment-method-detail",
    ),
    path(
        "customers/<str:customer_id>/payment-methods/<str:payment_method_id>/default",
        views.PaymentMethodDefaultApi.as_view(),
        name="payment-method-default",
    ),
]
