from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import health
from apps.core.metrics import metrics_view
from apps.core.views import api_route_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.api.urls")),
    path("webhooks/", include("apps.webhooks.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    # Unknown API routes answer with the error envelope, with DEBUG on too.
    re_path(r"^api/", api_route_not_found),
]

# Dev-only apps are routed where they are installed (never in production).
if apps.is_installed("apps.sandbox"):
    urlpatterns.insert(0, path("sandbox/", include("apps.sandbox.urls")))
if apps.is_installed("apps.bench"):
    urlpatterns.insert(0, path("api/v1/bench/", include("apps.bench.urls")))
if settings.STOREFRONT_ENABLED:
    urlpatterns.insert(0, path("store/", include("apps.catalog.urls")))

handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
