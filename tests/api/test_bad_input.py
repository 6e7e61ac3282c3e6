"""Bad input of any kind is a 4xx in the error envelope and changes nothing: each case here was a
500 (or a 404, or an HTML page) before."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.customers.models import Customer
from apps.webhooks.models import IncomingWebhook
from tests.api.test_errors import assert_envelope
from tests.factories import GatewayAccountFactory, PaymentFactory
from tests.webhooks.helpers import anet_body, post_anet

pytestmark = pytest.mark.django_db


def bad_request(response, *, param=None, code="parameter_invalid", status=400):
    return assert_envelope(response, status=status, error_type="invalid_request_error", code=code, param=param)


@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/events"])
@pytest.mark.parametrize("offset", ["+22:56", "+16:00", "-23:59", "-14:01"])
def test_an_offset_no_time_zone_has_is_refused(api, path, offset):
    moment = f"2026-11-01T11:53:48{offset}"
    bad_request(api.get(path, {"created_lte": moment}), param="created_lte")
    bad_request(api.get(path, {"created_gte": moment}), param="created_gte")


def test_real_offsets_are_read_as_the_instant_they_name(api, merchant):
    payment = PaymentFactory(merchant=merchant)
    created = payment.created_at
    just_before = created.astimezone().replace(microsecond=0).isoformat()
    ids = lambda **query: [p["id"] for p in api.get("/api/v1/payments", query).json()["data"]]  # noqa: E731
    assert ids(created_gte="2000-01-01T00:00:00+14:00") == [payment.public_id]
    assert ids(created_lte="2000-01-01T00:00:00-12:00") == []
    assert ids(created_lte=just_before.replace("+00:00", "Z")) == []
    assert api.get("/api/v1/payments", {"created_lte": "9999-12-31T23:59:59-10:00"}).status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/events", "/api/v1/customers", "/api/v1/subscriptions"])
@pytest.mark.parametrize(
    "cursor",
    [
        base64.b64encode(b"p=x").decode(),  # cD14: a position that is not an id
        base64.b64encode(b"p=1e5&r=1").decode(),
        base64.b64encode(b"o=-1").decode(),
        "zzz",  # not base64 at all
        "%%%",
    ],
)
def test_a_cursor_we_did_not_give_out_is_400(api, path, cursor):
    bad_request(api.get(path, {"cursor": cursor}), param="cursor")


def test_the_cursors_we_give_out_still_page(api, merchant):
    made = [PaymentFactory(merchant=merchant).public_id for _ in range(3)]
    first = api.get("/api/v1/payments", {"limit": 2}).json()
    second = api.get(first["next"]).json()
    assert [p["id"] for p in first["data"] + second["data"]] == made[::-1]
    assert first["has_more"] is True and second["has_more"] is False


@pytest.mark.parametrize("limit", ["0", "101", "1000000", "-1", "ten", "1.5", "٣"])
def test_limit_outside_1_to_100_is_400(api, limit):
    bad_request(api.get("/api/v1/payments", {"limit": limit}), param="limit")


def test_nul_in_a_path_or_query_is_400(api):
    bad_request(api.get("/api/v1/payments/pay_%00x"), param="path")
    bad_request(api.get("/api/v1/payments", {"status": "\x00"}), param="status")
    bad_request(api.get("/api/v1/customers/cus_\x00"), param="path")


def test_nul_in_a_webhook_path_is_400_without_authentication(client):
    response = client.post("/webhooks/authorizenet/gwa_%00x", data=b"{}", content_type="application/json")
    bad_request(response, param="path")


def test_nul_in_a_metadata_key_or_value_changes_nothing(api):
    for metadata in ({"k\x00": "v"}, {"k": "v\x00"}, {"k": ["\x00"]}):
        response = api.post("/api/v1/customers", {"email": "a@example.com", "metadata": metadata}, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["error"]["code"] == "parameter_invalid"
    assert not Customer.objects.exists()


def test_nul_in_a_signed_notification_is_400_and_not_stored(client):
    account = GatewayAccountFactory()
    account.set_credentials({"api_login_id": "x", "transaction_key": "k", "signature_key": "S" * 128}, login="x")
    account.save()
    for body in (
        anet_body("60000000001", notification_id="id\x00x"),
        anet_body("6000\x000000001"),
    ):
        response = post_anet(client, account, body)
        bad_request(response, code="payload_invalid")
    assert not IncomingWebhook.objects.exists()


@pytest.mark.parametrize("size", [3 * 1024 * 1024, 12 * 1024 * 1024])
def test_a_body_over_the_upload_limit_is_413_in_the_envelope(api, client, size):
    body = b'{"email": "' + b"a" * size + b'"}'
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    bad_request(response, code="request_too_large", status=413)
    response = client.post("/webhooks/authorizenet/gwa_x", data=body, content_type="application/json")
    bad_request(response, code="request_too_large", status=413)
    assert not Customer.objects.exists()


def test_deeply_nested_json_is_400(api):
    body = '{"email": "a@example.com", "metadata": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    bad_request(response, code="invalid_json")
    body = {"email": "a@example.com", "metadata": {"a": json.loads("[" * 40 + "]" * 40)}}
    bad_request(api.post("/api/v1/customers", body, format="json"), code="invalid_json")
    assert not Customer.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_json_are_400(api, constant):
    body = '{"email": "a@example.com", "metadata": {"a": ' + constant + "}}"
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    bad_request(response, code="invalid_json")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"start": "9999-12-31"}, "start"),
        ({"start": "2026-01-01", "end": "9999-12-31"}, "end"),
        ({"start": "0001-01-01"}, "start"),
        ({"start": "2026-01-01", "format": "xml"}, "format"),
    ],
)
@pytest.mark.parametrize("report", ["transactions", "settlements"])
def test_report_days_outside_the_calendar_and_unknown_formats_are_400(api, report, query, param):
    bad_request(api.get(f"/api/v1/reports/{report}", query), param=param)


@pytest.mark.parametrize(
    ("report", "header"),
    [
        ("transactions", "day,currency,payments,approved,declined,captured,refunded,returned,approval_rate,net"),
        ("settlements", "day,currency,batches,lines,charges,refunds,fees,payout"),
    ],
)
def test_an_empty_csv_report_is_its_header_line(api, report, header):
    response = api.get(f"/api/v1/reports/{report}", {"start": "2026-01-01", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [header]


def test_api_answers_are_never_cached(api):
    assert api.get("/api/v1/payments")["Cache-Control"] == "no-store"
    assert api.get("/api/v1/payments", {"limit": 0})["Cache-Control"] == "no-store"


def test_the_admin_opens_a_payment_by_its_public_id_and_any_other_id_is_not_found(staff_client):
    payment = PaymentFactory()
    client: Client = staff_client(roles.FINANCE_OPERATOR)
    response = client.get(f"/admin/payments/payment/{payment.public_id}/change/")
    assert response.status_code == 302 and response["Location"] == f"/admin/payments/payment/{payment.pk}/change/"
    for wrong in ("pay_doesnotexist", "abc", "1e3"):
        response = client.get(f"/admin/payments/payment/{wrong}/change/")
        assert response.status_code == 302 and response["Location"] == "/admin/payments/payment/"
    response = client.get("/admin/reconciliation/discrepancy/dsc_nothing/change/")
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="payment").exists()


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/payments?status=", "status"),
        ("/api/v1/events?type=", "type"),
        ("/api/v1/events?type=not.a.type", "type"),
        ("/api/v1/subscriptions?status=", "status"),
        ("/api/v1/payments?foo=1", "foo"),
        ("/api/v1/payments/pay_x?expand=customer", "expand"),
    ],
)
def test_empty_unknown_or_unlisted_query_parameters_are_400(api, path, param):
    response = api.get(path)
    body = bad_request(
        response, param=param, code="parameter_unknown" if param in {"foo", "expand"} else "parameter_invalid"
    )
    assert body["error"]["param"] == param


def test_unknown_body_parameters_are_400_naming_them(api):
    body = {"email": "a@example.com", "foo": 1}
    bad_request(api.post("/api/v1/customers", body, format="json"), param="foo", code="parameter_unknown")
    payment = {
        "amount": 500,
        "currency": "USD",
        "payment_method": {
            "type": "card", "number": "4111111111111111", "exp_month": 12, "exp_year": 2030,
            "billing_details": {"address": {"postal_code": "46282"}},
        },
    }  # fmt: skip
    response = api.post("/api/v1/payments", payment, format="json")
    bad_request(response, param="payment_method.billing_details.address", code="parameter_unknown")
    assert not Customer.objects.exists()


def test_an_operation_without_a_body_refuses_one(api, merchant):
    payment = PaymentFactory(merchant=merchant)
    response = api.post(f"/api/v1/payments/{payment.public_id}/void", {"amount": 5}, format="json")
    bad_request(response, param="amount", code="parameter_unknown")
    payment.refresh_from_db()
    assert payment.status == "authorized"


def test_report_errors_are_json_whatever_the_format(api):
    response = api.get("/api/v1/reports/transactions", {"start": "2026-02-30", "format": "csv"})
    assert response["Content-Type"] == "application/json"
    bad_request(response, param="start")


def test_the_admin_still_takes_large_file_uploads(settings):
    """The size guard is for JSON and webhook bodies: Django streams admin file uploads to disk."""
    from django.test import RequestFactory

    from apps.core.middleware import RequestGuardMiddleware

    request = RequestFactory().post(
        "/admin/reconciliation/settlementbatch/upload/", data=b"x" * 4_000_000, content_type="multipart/form-data"
    )
    assert RequestGuardMiddleware(lambda r: None)._refusal(request) is None


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v1/customers", b'{"\\ud800": 1}'),
        ("/api/v1/customers", b'{"email": "a@example.com", "metadata": {"a": "\\udc00"}}'),
        ("/api/v1/customers", b'{"email": "a@example.com", "metadata": {"\\ud800x": "a"}}'),
        ("/api/v1/plans", b'{"name": "Gold", "amount": 500, "currency": "USD", "interval": "\\ud800"}'),
    ],
)
def test_unpaired_surrogate_escapes_are_400(api, path, raw):
    response = api.post(path, data=raw, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parameter_invalid"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("charset", ["rot13", "zlib", "base64"])
def test_a_charset_that_is_no_text_encoding_is_400(api, charset):
    response = api.post(
        "/api/v1/customers", data=b'{"email": "a@example.com"}', content_type=f"application/json; charset={charset}"
    )

    assert response.status_code in (400, 415), response.content
    assert set(response.json()) == {"error", "request_id"}
    assert not Customer.objects.exists()


def test_too_many_query_fields_is_400_in_the_envelope(api):
    response = api.get("/api/v1/payments?" + "&".join(f"f{n}=1" for n in range(1200)))

    bad_request(response, code="request_invalid")


def test_a_webhook_endpoint_refuses_other_methods_in_the_envelope(client):
    response = client.get("/webhooks/authorizenet/gwa_x")

    bad_request(response, code="method_not_allowed", status=405)
    assert response["Allow"] == "POST"
