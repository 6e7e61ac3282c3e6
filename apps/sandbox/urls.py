from django.urls import path, re_path

from . import views
from .razorpay import views as razorpay
from .stripe import views as stripe

app_name = "sandbox"

urlpatterns = [
    path("authorizenet/xml/v1/request.api", views.authorizenet_api, name="authorizenet-api"),
    path("authorizenet/accept.js", views.authorizenet_accept_js, name="authorizenet-accept-js"),
    path("authorizenet/accept/v1/tokens", views.authorizenet_accept_token, name="authorizenet-accept-token"),
    path("razorpay/checkout.js", razorpay.checkout_js, name="razorpay-checkout-js"),
    path("razorpay/checkout/v1/payments", razorpay.checkout_pay, name="razorpay-checkout-pay"),
    re_path(r"^razorpay/v1/(?P<path>.*)$", razorpay.api, name="razorpay-api"),
    path("stripe/js/v3/stripe.js", stripe.stripe_js, name="stripe-js"),
    re_path(r"^stripe/v1/(?P<path>.*)$", stripe.api, name="stripe-api"),
    path("stripe/3ds/<str:intent_id>/", stripe.challenge_page, name="stripe-3ds"),
]
