"""Finance staff see money as money on every payments page of the admin: the payment's amounts,
its gateway calls and refunds, the refund list and page, the approval confirmation and the
messages, in the currency's own decimals (USD 2, JPY 0, KWD 3), never as bare minor units. Ids in
messages keep their case."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts import roles
from apps.payments.models import GatewayTransaction, Payment, Refund, RefundStatus
from tests.factories import PaymentFactory
from tests.helpers import assert_id_keeps_its_case, assert_shows_money
from tests.payments.helpers import confirm_action, purchase

pytestmark = pytest.mark.django_db

REFUNDS = "/admin/payments/refund/"
# A 4500 payment with a 1200 refund waiting for approval, 3300 left to refund.
CURRENCIES = {
    "USD": ("45.00 USD", "12.00 USD", "33.00 USD"),
    "JPY": ("4,500 JPY", "1,200 JPY", "3,300 JPY"),
    "KWD": ("4.500 KWD", "1.200 KWD", "3.300 KWD"),
}
BARE = [4500, 1200, 3300]


@pytest.fixture(params=sorted(CURRENCIES))
def currency(request):
    return request.param


@pytest.fixture
def refund_waiting(currency) -> Refund:
    """A captured payment of 4500 minor units with its capture call and a refund of 1200 that
    waits for an approver."""
    payment = PaymentFactory(amount=4500, currency=currency, captured=True)
    GatewayTransaction.objects.create(
        payment=payment,
        gateway_account=payment.gateway_account,
        kind=GatewayTransaction.Kind.CAPTURE,
        status=GatewayTransaction.Status.SUCCEEDED,
        amount=4500,
        currency=currency,
    )
    Payment.objects.filter(pk=payment.pk).update(amount_refund_pending=1200)
    return Refund.objects.create(
        merchant=payment.merchant,
        payment=payment,
        status=RefundStatus.PENDING_APPROVAL,
        amount=1200,
        currency=currency,
        reason="damaged in transit",
        requested_by="operator",
    )


def test_the_payment_page_shows_its_amounts_calls_and_refunds_as_money(refund_waiting, currency, staff_client):
    amount, refunded, refundable = CURRENCIES[currency]
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(f"/admin/payments/payment/{refund_waiting.payment_id}/change/")
    listing = viewer.get("/admin/payments/payment/")

    assert page.status_code == 200
    assert_shows_money(page.content, shown=[amount, refunded, refundable], bare=BARE)
    assert b"Gateway transactions" in page.content or b"gateway transaction" in page.content.lower()
    assert_shows_money(listing.content, shown=[amount], bare=BARE)


def test_the_refund_list_and_page_show_the_amount_as_money(refund_waiting, currency, staff_client):
    _, refunded, _ = CURRENCIES[currency]
    viewer = staff_client(roles.FINANCE_VIEWER)

    listing = viewer.get(REFUNDS)
    page = viewer.get(f"{REFUNDS}{refund_waiting.pk}/change/")

    assert page.status_code == 200
    assert_shows_money(listing.content, shown=[refunded], bare=BARE)
    assert_shows_money(page.content, shown=[refunded], bare=BARE)


def test_the_approval_confirmation_shows_the_refund_as_money(refund_waiting, currency, staff_client):
    _, refunded, _ = CURRENCIES[currency]
    approver = staff_client(roles.FINANCE_APPROVER)

    confirm = approver.post(REFUNDS, {"action": "approve_selected", ACTION_CHECKBOX_NAME: [refund_waiting.pk]})

    assert confirm.status_code == 200 and b"Approve refunds?" in confirm.content
    assert_shows_money(confirm.content, shown=[f"{refund_waiting.public_id}: {refunded} of"], bare=BARE)


def test_a_decision_message_names_the_refund_with_its_money_and_its_id_in_its_case(
    refund_waiting, currency, staff_client
):
    _, refunded, _ = CURRENCIES[currency]
    approver = staff_client(roles.FINANCE_APPROVER)

    done = approver.post(
        REFUNDS,
        {"action": "reject_selected", ACTION_CHECKBOX_NAME: [refund_waiting.pk], "confirm": "yes", "note": "no"},
        follow=True,
    )

    assert Refund.objects.get().status == RefundStatus.REJECTED
    message = f"Refund {refund_waiting.public_id} of {refunded}: rejected by an approver."
    assert message.encode() in done.content
    assert_id_keeps_its_case(done.content, refund_waiting.public_id)


def test_capture_and_refund_messages_show_money_and_keep_the_ids_case(api, anet_account, staff_client):
    payment = purchase(api, 4500, capture=False).json()
    url = f"/admin/payments/payment/{Payment.objects.get(public_id=payment['id']).pk}/"
    operator = staff_client(roles.FINANCE_OPERATOR)

    captured = confirm_action(operator, f"{url}capture/", {"amount": "40.00"}, follow=True)
    refunded = confirm_action(operator, f"{url}refund/", {"amount": "12.00", "reason": "late"}, follow=True)

    refund = Refund.objects.get()
    assert f"Payment {payment['id']} is captured (40.00 USD captured).".encode() in captured.content
    assert f"Refund {refund.public_id} of 12.00 USD is waiting for approval.".encode() in refunded.content
    assert_id_keeps_its_case(captured.content, payment["id"])
    assert_id_keeps_its_case(refunded.content, refund.public_id)
    assert_shows_money(refunded.content, shown=["45.00 USD", "40.00 USD", "12.00 USD"], bare=[4500, 4000, 1200])


@pytest.mark.parametrize("typed", ["inf", "-Infinity", "NaN", "1e999999", "1e30"])
def test_an_amount_no_money_can_be_is_a_form_error(api, anet_account, staff_client, typed):
    """Before: "inf" raised OverflowError and "1e999999" decimal.Overflow, each a 500."""
    payment = purchase(api, 4500, capture=False).json()
    url = f"/admin/payments/payment/{Payment.objects.get(public_id=payment['id']).pk}/"
    operator = staff_client(roles.FINANCE_OPERATOR)

    page = operator.post(f"{url}capture/", {"amount": typed})

    assert page.status_code == 200 and b"Enter an amount in USD" in page.content
    assert Payment.objects.get(public_id=payment["id"]).status == "authorized"
