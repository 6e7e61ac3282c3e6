"""Finding a refund of ours again by its receipt reads every page of the payment's refunds."""

from __future__ import annotations

import pytest

from apps.gateways.base import CaptureRequest, RefundRequest, TransactionState
from apps.gateways.razorpay import RazorpayConfig, RazorpayGateway
from tests.gateways.test_razorpay import paid
from tests.sandbox.razorpay_helpers import sdk_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(rzp_sandbox, settings) -> RazorpayGateway:
    return RazorpayGateway(
        RazorpayConfig(key_id=rzp_sandbox.key_id, key_secret=rzp_sandbox.key_secret,
                       base_url=settings.RAZORPAY_TEST_API_BASE, timeout_seconds=5.0, auto_capture=False)
    )  # fmt: skip


def test_a_refund_beyond_the_first_page_is_found(gateway, rzp_sandbox):
    # given a payment whose refund of ours was followed by 100 more (Razorpay lists newest first)
    _, payment_id = paid(gateway)
    gateway.capture(CaptureRequest("chcaptured", payment_id, 50_000, "INR"))
    ours = gateway.refund(RefundRequest("chsought0000000001", payment_id, 100, "INR"))
    client = sdk_client(rzp_sandbox)
    for number in range(100):
        client.payment.refund(payment_id, {"amount": 100, "receipt": f"chlater{number:011d}"})
    first_page = client.payment.fetch_multiple_refund(payment_id, {"count": 100})["items"]
    assert len(first_page) == 100 and ours.transaction_id not in {item["id"] for item in first_page}

    # when the lost answer is looked up by its receipt
    found = gateway.find_transaction("chsought0000000001", payment_id)

    # then it is found on the second page, made, not "not found"
    assert found is not None and found.transaction_id == ours.transaction_id
    assert found.state is TransactionState.REFUND_SETTLED and found.settled_amount == 100
    assert gateway.find_transaction("chlater00000000099", payment_id).transaction_id == first_page[0]["id"]
    assert gateway.find_transaction("chnever0000000000", payment_id) is None
