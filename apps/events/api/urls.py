from django.urls import path

from . import views

urlpatterns = [
    path("events", views.EventListApi.as_view(), name="event-list"),
    path("events/<str:event_id>", views.EventDetailApi.as_view(), name="event-detail"),
    path("webhook-endpoints", views.EndpointListCreateApi.as_view(), name="webhook-endpoint-list"),
    path("webhook-endpoints/<str:endpoint_id>", views.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        views.EndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
]
