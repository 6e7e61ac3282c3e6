from django.urls import path

from . import views

urlpatterns = [
    path("catalog/products", views.ProductListApi.as_view(), name="catalog-products"),
    path("checkout/razorpay/orders", views.RazorpayOrderCreateApi.as_view(), name="checkout-razorpay-orders"),
    path("checkout/razorpay/verify", views.RazorpayVerifyApi.as_view(), name="checkout-razorpay-verify"),
    path(
        "checkout/stripe/payment-intents",
        views.StripePaymentIntentCreateApi.as_view(),
        name="checkout-stripe-payment-intents",
    ),
    path("checkout/stripe/confirm", views.StripeConfirmApi.as_view(), name="checkout-stripe-confirm"),
    path("checkout/orders/<str:checkout_id>", views.CheckoutDetailApi.as_view(), name="checkout-detail"),
]
