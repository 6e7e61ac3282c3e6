"""Every API error, whatever raised it, answers with the one envelope and a stable code."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response

from apps.api.views import MerchantApiView
from apps.core.errors import ApplicationError

pytestmark = pytest.mark.django_db


def assert_envelope(response, *, status, error_type, code, param=None):
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error", "request_id"}
    assert body["error"]["type"] == error_type
    assert body["error"]["code"] == code
    assert body["error"]["param"] == param
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


class EchoInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(max_length=3)
    card = serializers.DictField(required=False)


class ValidatingView(MerchantApiView):
    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data)


class BoomView(MerchantApiView):
    def get(self, request):
        raise RuntimeError("card 4111111111111111 exploded")


class RefusingView(MerchantApiView):
    def get(self, request):
        raise ApplicationError("Nope.", code="custom_refusal", param="thing")


urlpatterns = [
    path("api/v1/_test/validate", ValidatingView.as_view()),
    path("api/v1/_test/boom", BoomView.as_view()),
    path("api/v1/_test/refuse", RefusingView.as_view()),
]

use_test_urls = override_settings(ROOT_URLCONF=__name__)


@pytest.mark.parametrize("url", ["/api/v1/merchant", "/api/v1/catalog/products"])
def test_missing_credentials(client, url):
    response = client.get(url)

    assert_envelope(response, status=401, error_type="authentication_error", code="authentication_required")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer sk_test_doesnotexist", "api_key_invalid"), ("Bearer a b", "authorization_malformed")],
)
def test_bad_credentials(client, header, code):
    response = client.get("/api/v1/merchant", HTTP_AUTHORIZATION=header)

    assert_envelope(response, status=401, error_type="authentication_error", code=code)


@pytest.mark.parametrize("scheme", ["Basic {b64}", "Token {key}", "{key}", "bearer:{key}", "Bearer", "Bearer  ", ""])
@pytest.mark.parametrize("url", ["/api/v1/merchant", "/api/v1/catalog/products"])  # secret-key and publishable
def test_an_authorization_header_that_is_not_bearer_says_what_is_expected(client, api_key, scheme, url):
    key = api_key.secret
    header = scheme.format(key=key, b64=base64.b64encode(f"{key}:".encode()).decode())

    response = client.get(url, HTTP_AUTHORIZATION=header)

    body = assert_envelope(response, status=401, error_type="authentication_error", code="authorization_malformed")
    assert "Authorization: Bearer sk_" in body["error"]["message"]
    assert key not in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_same_key_as_bearer_is_accepted(client, api_key):
    response = client.get("/api/v1/merchant", HTTP_AUTHORIZATION=f"bearer  {api_key.secret}")

    assert response.status_code == 200, response.content


def test_unknown_route_under_the_api(api):
    response = api.get("/api/v1/does-not-exist")

    assert_envelope(response, status=404, error_type="invalid_request_error", code="route_not_found")


def test_unknown_object(api):
    response = api.get("/api/v1/api-keys/key_nope")

    assert_envelope(response, status=404, error_type="invalid_request_error", code="resource_missing", param="id")


def test_method_not_allowed(api):
    response = api.delete("/api/v1/merchant")

    assert_envelope(response, status=405, error_type="invalid_request_error", code="method_not_allowed")


@use_test_urls
def test_validation_error_names_the_first_parameter_and_lists_all(api):
    response = api.post("/api/v1/_test/validate", {"amount": 0}, format="json")

    body = assert_envelope(
        response, status=400, error_type="invalid_request_error", code="parameter_invalid", param="amount"
    )
    details = {d["param"]: (d["code"], d["message"]) for d in body["error"]["details"]}
    assert details == {
        "amount": ("parameter_invalid", "Ensure this value is greater than or equal to 1."),
        "currency": ("parameter_missing", "This field is required."),
    }


@use_test_urls
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"amount": None, "currency": ""}, {"amount": "parameter_missing", "currency": "parameter_missing"}),
        ({"amount": "x", "currency": "EURO"}, {"amount": "parameter_invalid", "currency": "parameter_invalid"}),
        ({"amount": 0, "currency": "USD", "card": "x"}, {"amount": "parameter_invalid", "card": "parameter_invalid"}),
    ],
)
def test_details_speak_the_envelope_codes_not_drf_reasons(api, body, expected):
    response = api.post("/api/v1/_test/validate", body, format="json")

    error = response.json()["error"]
    assert {d["param"]: d["code"] for d in error["details"]} == expected
    assert error["code"] == expected[error["param"]]
    assert all(d["message"] and d["message"] != d["code"] for d in error["details"])


@use_test_urls
def test_missing_parameter_code(api):
    response = api.post("/api/v1/_test/validate", {"amount": 5}, format="json")

    assert_envelope(
        response, status=400, error_type="invalid_request_error", code="parameter_missing", param="currency"
    )


@use_test_urls
def test_nested_parameter_path(api):
    response = api.post("/api/v1/_test/validate", {"amount": 5, "currency": "USD", "card": "x"}, format="json")

    assert_envelope(response, status=400, error_type="invalid_request_error", code="parameter_invalid", param="card")


@use_test_urls
def test_malformed_json(api):
    response = api.generic("POST", "/api/v1/_test/validate", "{not json", content_type="application/json")

    assert_envelope(response, status=400, error_type="invalid_request_error", code="invalid_json")


@use_test_urls
def test_unsupported_media_type(api):
    response = api.generic(
        "POST", "/api/v1/_test/validate", "amount=1", content_type="application/x-www-form-urlencoded"
    )

    assert_envelope(response, status=415, error_type="invalid_request_error", code="unsupported_media_type")


@use_test_urls
def test_application_error_keeps_its_code_and_param(api):
    response = api.get("/api/v1/_test/refuse")

    assert_envelope(response, status=400, error_type="invalid_request_error", code="custom_refusal", param="thing")


@use_test_urls
def test_unhandled_exception_is_a_500_envelope_and_hides_details(api):
    response = api.get("/api/v1/_test/boom")

    body = assert_envelope(response, status=500, error_type="api_error", code="internal_error")
    assert "4111" not in body["error"]["message"]


def test_throttling_per_key_with_retry_after(api, client_for, merchant, issue_key, settings):
    settings.API_THROTTLE_RATE = "3/m"
    other = client_for(issue_key(merchant).secret)

    statuses = [api.get("/api/v1/merchant").status_code for _ in range(4)]
    response = api.get("/api/v1/merchant")

    assert statuses == [200, 200, 200, 429]
    assert_envelope(response, status=429, error_type="rate_limit_error", code="rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    # The limit is per key: another key of the same merchant is unaffected.
    assert other.get("/api/v1/merchant").status_code == 200


def test_the_throttle_window_expires_and_survives_a_script_flush(api, settings):
    from apps.core.redis_client import redis_client

    settings.API_THROTTLE_RATE = "2/h"  # an hour's window: none ends during the test
    server = redis_client(settings.REDIS_URL)

    assert api.get("/api/v1/merchant").status_code == 200
    server.script_flush()  # a Redis restart or failover forgets scripts: the count still works
    statuses = [api.get("/api/v1/merchant").status_code for _ in range(2)]

    assert statuses == [200, 429]
    (counter,) = server.keys("*throttle:api_key:*:3600:*")
    assert int(server.get(counter)) == 3 and 3500 < server.ttl(counter) <= 3601


def test_throttling_without_redis_uses_the_default_cache(api, settings):
    settings.REDIS_URL = ""
    settings.API_THROTTLE_RATE = "2/m"

    statuses = [api.get("/api/v1/merchant").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
