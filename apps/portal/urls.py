from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.portal_home, name="home"),
    path("open/<str:code>", views.portal_open, name="open"),
    path("invoices/<str:invoice_id>", views.portal_invoice, name="invoice"),
    path(
        "subscriptions/<str:subscription_id>/<str:action>",
        views.portal_subscription_action,
        name="subscription-action",
    ),
    path("payment-methods", views.portal_card_add, name="card-add"),
    path("payment-methods/checkout-setup", views.portal_card_checkout_setup, name="card-checkout-setup"),
    path("payment-methods/<str:payment_method_id>/<str:action>", views.portal_card_action, name="card-action"),
    path("sign-out", views.portal_sign_out, name="sign-out"),
]
