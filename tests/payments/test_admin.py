"""Finance staff in the admin: capture, void, refund through form and confirmation, maker-checker."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.payments.models import Payment, Refund
from apps.sandbox.models import AnetTransaction
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import confirm_action, purchase, settle

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = pytest.mark.sqlite


def change_url(payment_id: str) -> str:
    return f"/admin/payments/payment/{Payment.objects.get(public_id=payment_id).pk}/"


def test_capture_needs_a_confirmation_then_uses_the_service(api, anet_account, staff_client):
    payment = purchase(api, 2000, capture=False).json()
    staff = staff_client(roles.FINANCE_OPERATOR)
    url = change_url(payment["id"]) + "capture/"

    form = staff.get(url)
    confirm = staff.post(url, {"amount": "15.00"})
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"
    done = confirm_action(staff, url, {"amount": "15.00"})

    assert form.status_code == 200 and b"amount" in form.content
    assert b"Capture 15.00 USD" in confirm.content
    assert done.status_code == 302
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.amount_captured) == ("captured", 1500)
    assert AuditEvent.objects.get(action="payment.captured", target_id=payment["id"]).actor_label == staff.user.username


def test_bad_amounts_are_shown_on_the_form(api, anet_account, staff_client):
    payment = purchase(api, 2000, capture=False).json()
    staff = staff_client(roles.FINANCE_OPERATOR)

    response = staff.post(change_url(payment["id"]) + "capture/", {"amount": "1.234"})

    assert response.status_code == 200
    assert b"at most 2 decimals" in response.content


def test_service_refusals_become_admin_messages(api, anet_account, staff_client):
    payment = purchase(api, 2000, capture=False).json()
    staff = staff_client(roles.FINANCE_OPERATOR)

    response = confirm_action(staff, change_url(payment["id"]) + "capture/", {"amount": "25.00"}, follow=True)

    assert b"Capture amount must be between" in response.content
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"


def test_void_from_the_admin(api, anet_account, staff_client):
    payment = purchase(api).json()
    staff = staff_client(roles.FINANCE_OPERATOR)

    confirm_action(staff, change_url(payment["id"]) + "void/", {})

    assert Payment.objects.get(public_id=payment["id"]).status == "voided"


def test_viewers_see_payments_but_cannot_act(api, anet_account, staff_client):
    payment = purchase(api, capture=False).json()
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(change_url(payment["id"]) + "change/")

    assert page.status_code == 200
    assert b"/capture/" not in page.content
    assert viewer.post(change_url(payment["id"]) + "capture/", {"confirm": "yes"}).status_code == 403
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"


def test_operator_refund_waits_for_a_different_approver(
    api, anet_account, anet_sandbox, staff_client, client, django_user_model
):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    operator = staff_client(roles.FINANCE_OPERATOR)
    confirm_action(operator, change_url(payment["id"]) + "refund/", {"amount": "2.00", "reason": "late delivery"})
    refund = Refund.objects.get()
    assert refund.status == "pending_approval"
    assert Payment.objects.get(public_id=payment["id"]).amount_refund_pending == 200

    # The operator cannot approve (no permission), nor can an approver approve their own request.
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    client.force_login(approver)
    client.post(
        "/admin/payments/refund/",
        {"action": "approve_selected", "_selected_action": [refund.pk], "confirm": "yes", "note": "ok"},
    )

    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert refund.decided_by_user == approver
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.amount_refunded, stored.amount_refund_pending, stored.status) == (200, 0, "partially_refunded")
    assert AuditEvent.objects.filter(action="refund.approved", target_id=refund.public_id).exists()


def test_approvers_cannot_approve_their_own_large_refunds(api, anet_account, anet_sandbox, staff_client, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    approver = staff_client(roles.FINANCE_APPROVER)
    confirm_action(approver, change_url(payment["id"]) + "refund/", {"amount": "8.00", "reason": "big"})
    refund = Refund.objects.get()

    response = approver.post(
        "/admin/payments/refund/",
        {"action": "approve_selected", "_selected_action": [refund.pk], "confirm": "yes"},
        follow=True,
    )

    assert b"cannot be approved by the person who requested it" in response.content
    assert Refund.objects.get().status == "pending_approval"


def test_small_refund_by_an_approver_runs_at_once(api, anet_account, anet_sandbox, staff_client):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    approver = staff_client(roles.FINANCE_APPROVER)

    confirm_action(approver, change_url(payment["id"]) + "refund/", {"amount": "", "reason": "returned"})

    assert Refund.objects.get().status == "succeeded"
    assert Payment.objects.get(public_id=payment["id"]).status == "refunded"


def test_rejecting_releases_the_reserved_amount(api, anet_account, anet_sandbox, staff_client, client):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    confirm_action(
        staff_client(roles.FINANCE_OPERATOR), change_url(payment["id"]) + "refund/", {"amount": "3.00", "reason": "x"}
    )
    refund = Refund.objects.get()
    client.force_login(StaffUserFactory(roles=[roles.FINANCE_APPROVER]))

    confirm_page = client.post(
        "/admin/payments/refund/", {"action": "reject_selected", "_selected_action": [refund.pk]}
    )
    client.post(
        "/admin/payments/refund/",
        {"action": "reject_selected", "_selected_action": [refund.pk], "confirm": "yes", "note": "no"},
    )

    assert b"Reject refunds?" in confirm_page.content
    assert Refund.objects.get().status == "rejected"
    assert Payment.objects.get(public_id=payment["id"]).amount_refund_pending == 0


def test_payment_list_search_filters_and_query_count_do_not_grow(api, anet_account, staff_client):
    for amount in (100, 200, 300):
        purchase(api, amount, customer={"email": f"c{amount}@example.com"})
    viewer = staff_client(roles.FINANCE_VIEWER)

    with CaptureQueriesContext(connection) as few:
        viewer.get("/admin/payments/payment/")
    for amount in range(400, 1400, 100):
        purchase(api, amount)
    with CaptureQueriesContext(connection) as many:
        page = viewer.get("/admin/payments/payment/")
    searched = viewer.get("/admin/payments/payment/", {"q": "c200@example.com"})
    filtered = viewer.get(
        "/admin/payments/payment/", {"status__exact": "captured", "gateway_account__gateway": "authorizenet"}
    )

    assert page.status_code == 200
    assert len(many) == len(few)  # no N+1
    assert not any(
        "COUNT(*)" in q["sql"] and "WHERE" not in q["sql"]
        for q in many.captured_queries
        if "payments_payment" in q["sql"]
    )
    assert searched.content.count(b"/admin/payments/payment/") > 0 and b"c200@example.com" in searched.content
    assert filtered.status_code == 200


def test_detail_shows_gateway_calls_refunds_and_audit_trail(api, anet_account, staff_client):
    payment = purchase(api).json()

    page = staff_client(roles.FINANCE_VIEWER).get(change_url(payment["id"]) + "change/")

    content = page.content.decode()
    assert "payment.captured" in content
    assert payment["gateway_transaction_id"] in content
    assert "Gateway transactions" in content or "gateway transaction" in content.lower()


@pytest.mark.parametrize("field", ["public_id", "gateway_transaction_id", "reference", "card_last4"])
def test_payment_search_matches_each_indexed_field_exactly(api, anet_account, staff_client, field):
    purchase(api, 1000, reference="order-77")
    purchase(api, 2000, reference="order-78")
    target = Payment.objects.get(reference="order-77")
    viewer = staff_client(roles.FINANCE_VIEWER)

    found = viewer.get("/admin/payments/payment/", {"q": getattr(target, field)})
    prefix = viewer.get("/admin/payments/payment/", {"q": target.public_id[:-2]})

    assert target.public_id.encode() in found.content
    if field != "card_last4":
        assert Payment.objects.get(reference="order-78").public_id.encode() not in found.content
    assert target.public_id.encode() not in prefix.content  # exact, not a substring


def test_submitting_a_refund_confirmation_twice_refunds_once(api, anet_account, anet_sandbox, staff_client):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    approver = staff_client(roles.FINANCE_APPROVER)
    url = change_url(payment["id"]) + "refund/"
    page = approver.post(url, {"amount": "2.00", "reason": "late"})
    reference = re.search(rb'name="request_reference" value="([^"]+)"', page.content).group(1).decode()
    confirmation = {"amount": "2.00", "reason": "late", "confirm": "yes", "request_reference": reference}

    approver.post(url, confirmation)
    again = approver.post(url, confirmation, follow=True)  # a double click, or a resubmission after a timeout

    refund = Refund.objects.get()
    assert (refund.status, refund.request_reference) == ("succeeded", reference)
    assert f"Refund {refund.public_id} of 2.00 USD: succeeded.".encode() in again.content
    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    assert Payment.objects.get(public_id=payment["id"]).amount_refunded == 200


@pytest.mark.parametrize("reference", [None, "", "k" + "a" * 16, "s" + "a" * 15, "s" + "a" * 15 + "!"])
def test_a_confirmation_without_its_reference_does_nothing(api, anet_account, anet_sandbox, staff_client, reference):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    confirmation = {"amount": "2.00", "reason": "late", "confirm": "yes"}
    if reference is not None:
        confirmation["request_reference"] = reference

    response = staff_client(roles.FINANCE_APPROVER).post(
        change_url(payment["id"]) + "refund/", confirmation, follow=True
    )

    assert b"This confirmation is not valid; start again." in response.content
    assert not Refund.objects.exists()
    assert not AnetTransaction.objects.filter(transaction_type="refundTransaction").exists()
