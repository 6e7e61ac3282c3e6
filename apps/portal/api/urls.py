from django.urls import path

from . import views

urlpatterns = [
    path("portal-sessions", views.PortalSessionCreateApi.as_view(), name="portal-session-create"),
]
