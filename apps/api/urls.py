"""/api/v1/: every app's API routes, versioned in one place."""

from django.urls import URLPattern, URLResolver, include, path

app_name = "v1"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("apps.merchants.api.urls")),
    path("", include("apps.payments.api.urls")),
    path("", include("apps.events.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.customers.api.urls")),
    path("", include("apps.sessions_api.api.urls")),
    path("", include("apps.portal.api.urls")),
    path("", include("apps.subscriptions.api.urls")),
    path("", include("apps.reports.api.urls")),
    path("", include("apps.risk.api.urls")),
]
