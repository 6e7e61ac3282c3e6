"""The HTTP metrics every request records: one middleware, outermost, three metrics.

django-prometheus's own pair of middleware records about fifteen series per request (by method, by
transport, by view and transport, by charset, body sizes in both directions, latency twice ...).
With PROMETHEUS_MULTIPROC_DIR set, as under gunicorn, every one of them is a write to a mapped
file: together about a tenth of an authenticated API request's CPU. This records what the alert
rules and the Grafana dashboard read (docker/prometheus/alerts.yml, docker/grafana/), under
django-prometheus's names, labels and buckets, so its exporter and any dashboard built for it keep
working:

- django_http_responses_total_by_status_view_method (status, view, method): every response,
  including those a middleware answers before any view (a 400 from RequestGuardMiddleware, a 404);
- django_http_requests_latency_seconds_by_view_method (view, method): from the first middleware to
  the response, so time spent in middleware counts too;
- django_http_exceptions_total_by_type (type): exceptions a view raised.

A method outside the standard ones is labelled "<invalid method>" everywhere, so a client cannot
create series at will.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django_prometheus.conf import NAMESPACE, PROMETHEUS_LATENCY_BUCKETS
from prometheus_client import Counter, Histogram

RESPONSES = Counter(
    "django_http_responses_total_by_status_view_method",
    "Count of responses by status, view, method.",
    ["status", "view", "method"],
    namespace=NAMESPACE,
)
LATENCY = Histogram(
    "django_http_requests_latency_seconds_by_view_method",
    "Histogram of request processing time labelled by view (middleware included).",
    ["view", "method"],
    buckets=PROMETHEUS_LATENCY_BUCKETS,
    namespace=NAMESPACE,
)
EXCEPTIONS = Counter(
    "django_http_exceptions_total_by_type", "Count of exceptions by object type.", ["type"], namespace=NAMESPACE
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"})
UNNAMED = "<unnamed view>"


def method_label(request: HttpRequest) -> str:
    method = request.method or ""
    return method if method in METHODS else "<invalid method>"


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else None) or UNNAMED


class HttpMetricsMiddleware:
    """First in MIDDLEWARE: counts and times every response, whoever answered it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        view, method = view_label(request), method_label(request)
        RESPONSES.labels(str(response.status_code), view, method).inc()
        LATENCY.labels(view, method).observe(time.perf_counter() - started)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Called for an exception the view raised (Django then builds the error response, which
        __call__ counts)."""
        EXCEPTIONS.labels(type(exception).__name__).inc()
