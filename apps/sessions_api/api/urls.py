from django.urls import path

from . import views

urlpatterns = [
    path("customer-sessions", views.CustomerSessionCreateApi.as_view(), name="customer-session-create"),
    path(
        "customer-sessions/<str:session_id>/revoke",
        views.CustomerSessionRevokeApi.as_view(),
        name="customer-session-revoke",
    ),
    path(
        "customers/<str:customer_id>/sessions/revoke",
        views.CustomerSessionsRevokeAllApi.as_view(),
        name="customer-sessions-revoke-all",
    ),
]
