from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("authorizenet/xml/v1/request.api", views.authorizenet_api, name="authorizenet-api"),
    path("authorizenet/accept/v1/tokens", views.authorizenet_accept_token, name="authorizenet-accept-token"),
]
