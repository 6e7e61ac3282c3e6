"""Payments through the API, the services, the SDK and the sandbox over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.api.models import IdempotencyRecord
from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.sandbox.models import AnetTransaction, SandboxCall
from tests.payments.helpers import VISA, purchase, purchase_body, settle

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = pytest.mark.sqlite


def sandbox_row(payment_json):
    return AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(payment_json["gateway_transaction_id"]))


def test_purchase_captures_and_returns_the_payment(api, anet_account):
    response = purchase(api, 1050, customer={"email": "ada@example.com", "name": "Ada"}, metadata={"cart": "42"})

    body = response.json()
    assert response.status_code == 201, body
    assert body["id"].startswith("pay_")
    assert (body["status"], body["amount_captured"], body["amount_refundable"]) == ("captured", 1050, 1050)
    assert body["card"] == {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030}
    assert (body["gateway"], body["reference"], body["metadata"]) == ("authorizenet", "order-1", {"cart": "42"})
    assert body["customer"].startswith("cus_")
    assert sandbox_row(body).status == AnetTransaction.Status.CAPTURED
    gt = GatewayTransaction.objects.get(payment__public_id=body["id"])
    assert (gt.kind, gt.status, gt.gateway_transaction_id, gt.response_code) == (
        "sale",
        "succeeded",
        body["gateway_transaction_id"],
        "1",
    )
    assert gt.latency_ms is not None and gt.correlation_id == response["X-Request-ID"]
    assert sandbox_row(body).invoice_number == gt.reference  # our reference travels with the call
    actions = list(AuditEvent.objects.filter(target_id=body["id"]).order_by("id").values_list("action", flat=True))
    assert actions == ["payment.created", "payment.captured"]


def test_authorize_then_partial_capture(api, anet_account):
    payment = purchase(api, 2000, capture=False).json()
    assert payment["status"] == "authorized"

    response = api.post(f"/api/v1/payments/{payment['id']}/capture", {"amount": 1500}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["amount_captured"], response.json()["amount_authorized"]) == (
        "captured",
        1500,
        2000,
    )
    assert sandbox_row(payment).settle_amount == 1500


def test_over_capture_is_refused_before_the_gateway_and_changes_nothing(api, anet_account):
    payment = purchase(api, 2000, capture=False).json()
    calls = GatewayTransaction.objects.count()

    response = api.post(f"/api/v1/payments/{payment['id']}/capture", {"amount": 2001}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "capture_exceeds_authorized"
    assert GatewayTransaction.objects.count() == calls
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"


def test_capture_of_a_captured_payment_is_a_conflict(api, anet_account):
    payment = purchase(api).json()

    response = api.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_invalid_state"


@pytest.mark.parametrize("capture", [True, False])
def test_void_before_settlement(api, anet_account, capture):
    payment = purchase(api, capture=capture).json()

    response = api.post(f"/api/v1/payments/{payment['id']}/void")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["amount_captured"]) == ("voided", 0)
    assert sandbox_row(payment).status == AnetTransaction.Status.VOIDED
    assert AuditEvent.objects.filter(action="payment.voided", target_id=payment["id"]).exists()


def test_void_after_settlement_is_refused_and_changes_nothing(api, anet_account, anet_sandbox):
    payment = purchase(api).json()
    settle(anet_sandbox)

    response = api.post(f"/api/v1/payments/{payment['id']}/void")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_already_settled"
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.operation) == ("captured", "")


def test_refund_before_settlement_says_to_void(api, anet_account):
    payment = purchase(api).json()

    response = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 100}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_not_settled"
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.amount_refunded, stored.amount_refund_pending, stored.status) == (0, 0, "captured")
    assert Refund.objects.get(payment=stored).status == "failed"


def test_partial_then_full_refunds_after_settlement(api, anet_account, anet_sandbox):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)

    first = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 300, "reason": "damaged"}, format="json")
    rest = api.post(f"/api/v1/payments/{payment['id']}/refunds", {}, format="json")
    after = api.get(f"/api/v1/payments/{payment['id']}").json()

    assert first.status_code == rest.status_code == 201
    assert first.json()["id"].startswith("re_")
    assert (first.json()["amount"], rest.json()["amount"]) == (300, 700)
    assert (after["status"], after["amount_refunded"], after["amount_refundable"]) == ("refunded", 1000, 0)
    assert api.get(f"/api/v1/refunds/{first.json()['id']}").json()["status"] == "succeeded"
    listed = api.get(f"/api/v1/payments/{payment['id']}/refunds").json()["data"]
    assert [r["amount"] for r in listed] == [300, 700]


def test_over_refund_is_refused_and_changes_nothing(api, anet_account, anet_sandbox):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 600}, format="json")

    response = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 401}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_exceeds_captured"
    assert Refund.objects.filter(payment__public_id=payment["id"]).count() == 1


def test_large_refunds_wait_for_approval_with_the_amount_reserved(api, anet_account, anet_sandbox, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)

    response = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 800}, format="json")
    over = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 300}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "pending_approval"
    assert over.json()["error"]["code"] == "refund_exceeds_captured"
    assert api.get(f"/api/v1/payments/{payment['id']}").json()["amount_refund_pending"] == 800


def test_the_approval_threshold_counts_every_refund_of_the_payment(api, anet_account, anet_sandbox, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 50000}
    payment = purchase(api, 70000).json()
    settle(anet_sandbox)
    refunds = f"/api/v1/payments/{payment['id']}/refunds"

    first = api.post(refunds, {"amount": 34900}, format="json")
    second = api.post(refunds, {"amount": 34900}, format="json")

    assert (first.status_code, first.json()["status"]) == (201, "succeeded")
    assert (second.status_code, second.json()["status"]) == (202, "pending_approval")
    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    assert AuditEvent.objects.filter(action="refund.approval_requested", target_id=second.json()["id"]).exists()


@pytest.mark.parametrize(
    ("zip_code", "code"),
    [("46282", "card_declined")],
)
def test_decline_is_402_and_the_failed_payment_can_be_fetched(api, anet_account, zip_code, code):
    method = {**VISA, "billing_details": {"postal_code": zip_code}}

    response = purchase(api, payment_method=method)

    error = response.json()["error"]
    assert response.status_code == 402
    assert (error["type"], error["code"]) == ("card_error", code)
    payment = api.get(f"/api/v1/payments/{error['payment']}").json()
    assert (payment["status"], payment["failure_code"], payment["amount_captured"]) == ("failed", code, 0)
    assert AuditEvent.objects.filter(action="payment.failed", target_id=error["payment"]).exists()


def test_declines_are_replayed_under_the_same_idempotency_key(api, anet_account):
    method = {**VISA, "billing_details": {"postal_code": "46282"}}
    first = purchase(api, payment_method=method, key="decline-1")
    second = purchase(api, payment_method=method, key="decline-1")

    assert first.status_code == second.status_code == 402
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


def test_opaque_data_payment(api, anet_account, live_server):
    import requests

    token = requests.post(
        f"{live_server.url}/sandbox/authorizenet/accept/v1/tokens",
        json={"cardData": {"cardNumber": "370000000000002", "month": "11", "year": "2031", "cardCode": "1234"}},
        timeout=5,
    ).json()["opaqueData"]

    response = purchase(
        api, payment_method={"type": "opaque_data", "descriptor": token["dataDescriptor"], "value": token["dataValue"]}
    )

    assert response.status_code == 201
    assert response.json()["card"] == {"brand": "amex", "last4": "0002", "exp_month": None, "exp_year": None}


def test_raw_card_data_is_refused_where_disabled(api, anet_account, settings):
    settings.PAYMENTS_RAW_CARD_DATA = "never"

    response = purchase(api)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "raw_card_data_not_allowed"
    assert Payment.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"amount": 10.5}, "amount", "parameter_invalid"),
        ({"amount": "1050"}, "amount", "parameter_invalid"),
        ({"amount": 0}, "amount", "parameter_invalid"),
        ({"currency": "XXX"}, "currency", "parameter_invalid"),
        ({"payment_method": {**VISA, "number": "4111111111111112"}}, "payment_method.number", "parameter_invalid"),
        (
            {"payment_method": {"type": "card", "number": "4111111111111111"}},
            "payment_method.exp_month",
            "parameter_missing",
        ),
        ({"payment_method": {"type": "bitcoin"}}, "payment_method.type", "parameter_invalid"),
        ({"metadata": {"k": 1}}, "metadata", "parameter_invalid"),
        ({"customer": "nobody"}, "customer", "parameter_invalid"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(api, anet_account, overrides, param, code):
    response = api.post("/api/v1/payments", purchase_body(**overrides), format="json")

    error = response.json()["error"]
    assert response.status_code == 400, error
    assert (error["param"], error["code"]) == (param, code)
    assert "4111111111111112" not in response.content.decode()
    assert Payment.objects.count() == 0


def test_an_expired_card_is_declined_before_the_gateway_like_a_risk_block(api, anet_account):
    calls = SandboxCall.objects.filter(gateway="authorizenet")
    last_year = timezone.now().year - 1
    card = {**VISA, "exp_month": 12, "exp_year": last_year}

    first = purchase(api, payment_method=card, key="expired-1")
    again = purchase(api, payment_method=card, key="expired-1")

    error = first.json()["error"]
    assert first.status_code == 402, error
    assert (error["type"], error["code"], error["param"]) == ("card_error", "expired_card", "payment_method.exp_year")
    assert (again.status_code, again["Idempotent-Replayed"], again.content) == (402, "true", first.content)
    assert calls.count() == 0  # nothing reached the gateway
    payment = Payment.objects.get()
    assert error["payment"] == payment.public_id
    assert (payment.status, payment.failure_code, payment.card_last4, payment.card_exp_year) == (
        "failed", "expired_card", "1111", last_year,
    )  # fmt: skip
    gt = GatewayTransaction.objects.get()  # the call that was not made, so a retry finds the decline
    assert (gt.status, gt.error_code, gt.gateway_transaction_id) == ("declined", "expired_card", "")
    assert AuditEvent.objects.filter(action="payment.failed", target_id=payment.public_id).count() == 1
    assert Event.objects.filter(type="payment.failed", object_id=payment.public_id).count() == 1
    shown = api.get(f"/api/v1/payments/{payment.public_id}").json()
    assert (shown["status"], shown["failure_code"], shown["amount_captured"]) == ("failed", "expired_card", 0)
    assert purchase(api).status_code == 201 and calls.count() == 1  # a valid card does reach it


@pytest.mark.parametrize("part", ["exp_year", "exp_month"])
def test_a_retry_that_lost_the_stored_answer_names_the_same_part_of_an_expired_card(api, anet_account, part):
    today = timezone.now().date()
    if part == "exp_month" and today.month == 1:
        pytest.skip("no earlier month this year in January")
    year, month = (today.year - 2, 12) if part == "exp_year" else (today.year, today.month - 1)
    card = {**VISA, "exp_month": month, "exp_year": year}
    first = purchase(api, payment_method=card, key="expired-lost")
    # The answer was never stored (the database went away at the finish) and the lease ran out.
    IdempotencyRecord.objects.filter(key="expired-lost").update(
        state="in_progress", locked_until=timezone.now() - timedelta(minutes=1), committed=True,
        response_status=None, response_body=None, response_content=None,
    )  # fmt: skip

    again = purchase(api, payment_method=card, key="expired-lost")

    assert first.json()["error"]["param"] == f"payment_method.{part}"
    assert again.status_code == 402 and "Idempotent-Replayed" not in again
    assert {k: v for k, v in again.json()["error"].items() if k != "message"} == {
        k: v for k, v in first.json()["error"].items() if k != "message"
    }
    assert Payment.objects.count() == 1


def test_unsupported_currency_for_the_account(api, anet_account):
    response = purchase(api, currency="EUR")

    assert response.json()["error"]["code"] == "currency_not_supported"
    assert Payment.objects.count() == 0


def test_no_gateway_account(api):
    response = purchase(api)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_gateway_account"


def test_unknown_customer_id_is_404(api, anet_account):
    response = purchase(api, customer="cus_missing")

    assert response.status_code == 404
    assert Payment.objects.count() == 0


def test_existing_customer_by_id(api, anet_account):
    first = purchase(api, customer={"email": "bob@example.com"}).json()

    second = purchase(api, 2000, customer=first["customer"]).json()

    assert second["customer"] == first["customer"]


def test_list_filters_and_cursor(api, anet_account):
    ids = [purchase(api, 100 + n, reference=f"r{n % 2}").json()["id"] for n in range(3)]
    purchase(api, payment_method={**VISA, "billing_details": {"postal_code": "46282"}})

    failed = api.get("/api/v1/payments?status=failed").json()["data"]
    by_reference = api.get("/api/v1/payments?reference=r0").json()["data"]
    page = api.get("/api/v1/payments?limit=2").json()
    after = api.get(page["next"]).json()
    created = api.get(
        "/api/v1/payments", {"created_gte": "2000-01-01T00:00:00Z", "created_lte": "2000-01-02T00:00:00Z"}
    ).json()

    assert [p["status"] for p in failed] == ["failed"]
    assert [p["id"] for p in by_reference] == [ids[2], ids[0]]
    assert page["has_more"] is True and len(page["data"]) == 2 and len(after["data"]) == 2
    assert created["data"] == []
    assert api.get("/api/v1/payments?status=bogus").status_code == 400


def test_another_merchants_payment_is_not_found_and_not_touched(
    api, anet_account, client_for, other_merchant, issue_key
):
    payment = purchase(api, capture=False).json()
    other = client_for(issue_key(other_merchant).secret)

    assert other.get(f"/api/v1/payments/{payment['id']}").status_code == 404
    assert other.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json").status_code == 404
    assert other.post(f"/api/v1/payments/{payment['id']}/void").status_code == 404
    assert other.post(f"/api/v1/payments/{payment['id']}/refunds", {}, format="json").status_code == 404
    assert other.get("/api/v1/payments").json()["data"] == []
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"


def test_the_fast_representation_matches_the_documented_serializer(api, anet_account):
    from apps.payments.api.serializers import PaymentOutputSerializer, RefundOutputSerializer
    from apps.payments.models import Refund
    from apps.payments.representations import payment_representation, refund_representation

    purchase(api, customer={"email": "x@example.com"}, metadata={"a": "b"})
    purchase(api, capture=False)
    purchase(api, payment_method={**VISA, "billing_details": {"postal_code": "46282"}})

    payments = Payment.objects.select_related("customer", "gateway_account")
    assert len(payments) == 3
    for payment in payments:
        assert payment_representation(payment) == PaymentOutputSerializer(payment).data
    captured = next(p for p in payments if p.status == "captured")
    api.post(f"/api/v1/payments/{captured.public_id}/refunds", {"amount": 100}, format="json")
    refunds = Refund.objects.select_related("payment")
    assert refunds and all(refund_representation(r) == RefundOutputSerializer(r).data for r in refunds)
