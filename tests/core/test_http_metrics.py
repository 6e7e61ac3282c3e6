"""The HTTP metrics middleware (apps.core.http_metrics): every response counted by status, view and
method and timed, whoever answered it; exceptions a view raised counted by type; no series for a
made-up method."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def responses(status: str, view: str, method: str) -> float:
    labels = {"status": status, "view": view, "method": method}
    return REGISTRY.get_sample_value("django_http_responses_total_by_status_view_method_total", labels) or 0.0


def timed(view: str, method: str) -> float:
    labels = {"view": view, "method": method}
    return REGISTRY.get_sample_value("django_http_requests_latency_seconds_by_view_method_count", labels) or 0.0


def exceptions(kind: str) -> float:
    return REGISTRY.get_sample_value("django_http_exceptions_total_by_type_total", {"type": kind}) or 0.0


def test_a_response_is_counted_and_timed_under_its_view_and_method(client):
    before, before_timed = responses("200", "health-live", "GET"), timed("health-live", "GET")

    assert client.get("/health/live").status_code == 200

    assert responses("200", "health-live", "GET") == before + 1
    assert timed("health-live", "GET") == before_timed + 1


def test_a_response_a_middleware_gave_before_any_view_is_counted_too(client):
    before = responses("400", "<unnamed view>", "GET")

    assert client.get("/api/v1/merchant", {"q": "a\x00b"}).status_code == 400  # RequestGuardMiddleware

    assert responses("400", "<unnamed view>", "GET") == before + 1


def test_an_exception_a_view_raised_is_counted_by_type(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    before, before_404 = exceptions("Http404"), responses("404", "metrics", "GET")

    assert client.get("/metrics").status_code == 404  # the view raises Http404 to hide itself

    assert exceptions("Http404") == before + 1
    assert responses("404", "metrics", "GET") == before_404 + 1


def test_a_made_up_method_makes_no_series_of_its_own(client):
    before = responses("200", "health-live", "<invalid method>")

    assert client.generic("BREW", "/health/live").status_code == 200  # the probe answers any method

    assert responses("200", "health-live", "<invalid method>") == before + 1
    assert responses("200", "health-live", "BREW") == 0
    assert timed("health-live", "BREW") == 0
