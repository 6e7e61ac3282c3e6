"""No card number outside a card's own fields: refused in every free-text field, metadata key or
value, Idempotency-Key; replaced as a request id; masked in every log line, access logs included."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from apps.api.models import IdempotencyRecord
from apps.audit.models import AuditEvent
from apps.customers.models import Customer
from apps.events.models import Event, WebhookEndpoint
from apps.payments.models import Payment, Refund
from apps.subscriptions.models import Plan
from tests.api.test_errors import assert_envelope
from tests.factories import PaymentFactory
from tests.faultlab import ROOT, free_port, wait_until
from tests.payments.helpers import VISA

pytestmark = pytest.mark.django_db

PANS = ["4111111111111111", "4111 1111 1111 1111", "5424-0000-0000-0015", "4007000000027"]
PAYMENT = {"amount": 500, "currency": "USD", "payment_method": VISA}


def refused(response, param):
    body = assert_envelope(
        response, status=400, error_type="invalid_request_error", code="parameter_invalid", param=param
    )
    assert "card number" in body["error"]["message"]
    for pan in PANS:
        assert pan not in response.content.decode()
    return body


@pytest.mark.parametrize("pan", PANS)
@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/v1/payments", {**PAYMENT, "description": "card {pan}"}, "description"),
        ("/api/v1/payments", {**PAYMENT, "reference": "{pan}"}, "reference"),
        ("/api/v1/payments", {**PAYMENT, "metadata": {"note": "pan {pan} exp 12/30"}}, "metadata.note"),
        ("/api/v1/payments", {**PAYMENT, "metadata": {"{pan}": "x"}}, "metadata.[card number]"),
        ("/api/v1/payments", {**PAYMENT, "billing_details": {"name": "{pan}"}}, "billing_details.name"),
        ("/api/v1/customers", {"email": "a@example.com", "name": "Ada {pan}"}, "name"),
        ("/api/v1/customers", {"email": "a@example.com", "phone": "{pan}"}, "phone"),
        ("/api/v1/customers", {"email": "a@example.com", "metadata": {"k": ["{pan}"]}}, "metadata.k.0"),
        ("/api/v1/plans", {"name": "Gold {pan}", "amount": 500, "currency": "USD", "interval": "month"}, "name"),
        (
            "/api/v1/plans",
            {"name": "Gold", "amount": 500, "currency": "USD", "interval": "month", "metadata": {"c": "{pan}"}},
            "metadata.c",
        ),
        ("/api/v1/webhook-endpoints", {"url": "https://example.com/h", "description": "{pan}"}, "description"),
    ],
)
def test_a_card_number_in_free_text_is_refused_and_nothing_is_stored(api, path, body, param, pan):
    filled = _fill(body, pan)
    models = (Payment, Customer, Plan, WebhookEndpoint, Event, AuditEvent)
    before = [model.objects.count() for model in models]

    refused(api.post(path, filled, format="json", HTTP_IDEMPOTENCY_KEY="k1"), param)

    assert [model.objects.count() for model in models] == before
    digits = pan.replace(" ", "")
    for record in IdempotencyRecord.objects.all():
        assert digits not in str(record.response_body)
        assert digits.encode() not in bytes(record.response_content or b"")


def test_a_card_number_in_a_refund_reason_is_refused(api, merchant):
    payment = PaymentFactory(merchant=merchant, captured=True)
    response = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"reason": "4111111111111111"}, format="json")
    refused(response, "reason")
    assert not Refund.objects.exists()


def test_the_card_fields_themselves_still_take_a_card(api):
    response = api.post(
        "/api/v1/customers", {"email": "a@example.com", "metadata": {"n": "4111111111111112"}}, format="json"
    )
    assert response.status_code == 201, response.json()  # not Luhn-valid: not a card number


@pytest.mark.parametrize("key", ["4111111111111111", "4007000000027", "pay 4111 1111 1111 1111"])
def test_a_card_number_as_idempotency_key_is_refused(api, key):
    response = api.post("/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert_envelope(
        response, status=400, error_type="idempotency_error", code="idempotency_key_invalid", param="Idempotency-Key"
    )
    assert not IdempotencyRecord.objects.exists() and not Customer.objects.exists()


def test_uuid_idempotency_keys_with_digit_groups_are_fine(api):
    key = "41111111-1111-1111-4111-111111111111"
    response = api.post("/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201


@pytest.mark.parametrize("request_id", ["4111111111111111", "4111-1111-1111-1111"])
def test_a_card_number_as_request_id_is_replaced_by_ours(api, request_id):
    response = api.post("/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 201
    assert response["X-Request-ID"].startswith("req_")
    audit = AuditEvent.objects.get(action="customer.created")
    assert audit.correlation_id == response["X-Request-ID"]


def test_gunicorn_access_lines_are_masked_and_ids_left_whole(tmp_path):
    log = tmp_path / "access.log"
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
               "--access-logfile", str(log), "--access-logformat", '%(r)s %(s)s %({x-request-id}i)s']  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{port}/health/live", timeout=1).ok, timeout=30, what="gunicorn"
        )
        request_id = "req_fc4c5122a90c4e4111111111111111eab3"
        requests.get(
            f"http://127.0.0.1:{port}/health/live?card=4111111111111111&x=4111-1111-1111-1111",
            headers={"X-Request-ID": request_id},
            timeout=5,
        )
        wait_until(lambda: "card=" in log.read_text(), timeout=10, what="the access line")
    finally:
        process.terminate()
        process.wait(timeout=15)
    line = next(line for line in log.read_text().splitlines() if "card=" in line)
    assert "4111111111111111&" not in line and "4111-1111-1111-1111" not in line
    assert "card=[card ****1111]" in line
    assert request_id in line


def _fill(value, pan):
    if isinstance(value, dict):
        return {_fill(k, pan): _fill(v, pan) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, pan) for v in value]
    return value.replace("{pan}", pan) if isinstance(value, str) else value


def test_a_card_shaped_object_inside_metadata_is_no_card_input(api):
    for metadata in ({"type": "card", "number": "4111111111111111"}, {"x": {"type": "card", "number": PANS[0]}}):
        response = api.post("/api/v1/customers", {"email": "a@example.com", "metadata": metadata}, format="json")
        assert response.status_code == 400, response.json()
        assert "card number" in response.json()["error"]["message"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("number", [4111111111111111.0, -4111111111111111, 4111111111111111])
def test_a_card_number_sent_as_a_json_number_is_refused(api, number):
    response = api.post("/api/v1/customers", {"email": "a@example.com", "name": number}, format="json")

    refused(response, "name")
    assert not Customer.objects.exists()


@pytest.mark.parametrize("number", [10**310, -(10**310), 1e308])
def test_a_huge_json_number_is_never_a_500(api, number):
    response = api.post("/api/v1/customers", {"email": "a@example.com", "name": number}, format="json")

    assert response.status_code < 500


def test_a_card_number_in_the_url_is_refused_and_nothing_is_kept(api):
    response = api.post("/api/v1/payments/4111111111111111/capture", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    refused(response, "path")
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("agent", ["shop/1 card 4111111111111111", "shop/1 x4111111111111111"])
def test_a_card_number_in_the_user_agent_is_kept_out_of_the_audit_trail(api, agent):
    response = api.post("/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_USER_AGENT=agent)

    assert response.status_code == 201
    stored = AuditEvent.objects.get(action="customer.created").user_agent
    assert "4111111111111111" not in stored and stored


def test_a_user_agent_without_a_card_number_is_kept_as_sent(api):
    api.post(
        "/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_USER_AGENT="shop/1.2 (build 20261206)"
    )

    assert AuditEvent.objects.get(action="customer.created").user_agent == "shop/1.2 (build 20261206)"
