from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.catalog.views import home
from apps.core import health
from apps.core.metrics import metrics_view
from apps.core.views import api_route_not_found
from apps.customers.views import setup_return
from apps.payments.views import authentication_return
from apps.sessions_api.views import jwks
from apps.subscriptions.views import invoice_pay


def docs_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The API's schema and docs: public with API_DOCS_PUBLIC, else only for signed-in staff (with
    their second factor where the admin requires one), like any admin page."""
    staff_only = admin.site.admin_view(view)

    def serve(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return (view if settings.API_DOCS_PUBLIC else staff_only)(request, *args, **kwargs)

    return serve


urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.api.urls")),
    path("webhooks/", include("apps.webhooks.urls")),
    # The customer's browser comes back here from 3-D Secure.
    path("payments/<str:payment_id>/authenticated", authentication_return, name="payment-authenticated"),
    path("payment-methods/<str:payment_method_id>/authenticated", setup_return, name="payment-method-authenticated"),
    # An open invoice's payment page (the signed link in invoice events), for customers.
    path("pay/invoices/<str:token>", invoice_pay, name="invoice-pay"),
    # The hosted customer portal, opened with a one-time link (POST /api/v1/portal-sessions).
    path("portal/", include("apps.portal.urls")),
    path("api/schema/", docs_view(SpectacularAPIView.as_view()), name="schema"),
    # The split view serves its start-up script as a file: the page needs no inline script (CSP).
    path("api/docs/", docs_view(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/workers", health.workers, name="health-workers"),
    path("metrics", metrics_view, name="metrics"),
    # The public keys of customer session tokens (ES256 only).
    path(".well-known/jwks.json", jwks, name="jwks"),
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

handler400 = "apps.core.views.bad_request"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
