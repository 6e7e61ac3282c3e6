from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("<str:gateway>/<str:account_id>", views.gateway_webhook, name="gateway-webhook"),
]
