"""The Razorpay adapter through the official SDK against our sandbox, error paths and settlement reports included."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.gateways.base import CaptureRequest, OrderRequest, Outcome, RefundRequest, TransactionState, VoidRequest
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.razorpay import RazorpayConfig, RazorpayGateway
from apps.gateways.settlement_interface import SettlementLineKind


@pytest.fixture
def gateway(rzp_sandbox, settings) -> RazorpayGateway:
    return RazorpayGateway(
        RazorpayConfig(key_id=rzp_sandbox.key_id, key_secret=rzp_sandbox.key_secret,
                       base_url=settings.RAZORPAY_TEST_API_BASE, timeout_seconds=2.0, auto_capture=False)
    )  # fmt: skip


def paid(gateway: RazorpayGateway, amount: int = 50_000) -> tuple[str, str]:
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    reference = f"ch{uuid.uuid4().hex[:16]}"
    order = gateway.create_order(OrderRequest(reference, amount, "INR"))
    result = rzp_checkout_pay(key_id=gateway.config.key_id, order_id=order.order_id, card_number="5500670000001002",
                              exp_month=1, exp_year=2032, cvv="000")  # fmt: skip
    assert result.ok
    return order.order_id, result.payment_id


def test_orders_are_found_again_by_our_reference(gateway):
    order = gateway.create_order(OrderRequest("chfindme0000000001", 1_000, "INR", {"checkout": "co_1"}))
    assert order.order_id.startswith("order_") and order.amount == 1_000 and order.status == "created"
    assert gateway.find_order("chfindme0000000001") == order
    assert gateway.find_order("chnobody0000000000") is None


def test_payments_capture_and_refund(gateway):
    order_id, payment_id = paid(gateway)
    authorized = gateway.fetch_payment(payment_id)
    assert (authorized.status, authorized.order_id, authorized.card_last4) == ("authorized", order_id, "1002")
    assert gateway.fetch_transaction(payment_id).state is TransactionState.AUTHORIZED
    assert [p.payment_id for p in gateway.order_payments(order_id)] == [payment_id]

    captured = gateway.capture(CaptureRequest("chcap", payment_id, 50_000, "INR"))
    again = gateway.capture(CaptureRequest("chcap", payment_id, 50_000, "INR"))  # a retry of ours
    assert captured.outcome is Outcome.APPROVED and again.outcome is Outcome.APPROVED
    assert gateway.fetch_transaction(payment_id).state is TransactionState.CAPTURED

    refund = gateway.refund(RefundRequest("chrefund0000000001", payment_id, 20_000, "INR"))
    assert refund.transaction_id.startswith("rfnd_")
    details = gateway.fetch_transaction(refund.transaction_id)
    assert details.state in {TransactionState.REFUND_SETTLED, TransactionState.REFUND_PENDING}
    assert details.settled_amount == 20_000 and details.original_transaction_id == payment_id
    found = gateway.find_transaction("chrefund0000000001", payment_id)
    assert found is not None and found.transaction_id == refund.transaction_id
    assert gateway.find_transaction("chother", payment_id) is None

    with pytest.raises(GatewayDeclined) as over:
        gateway.refund(RefundRequest("chrefund0000000002", payment_id, 40_000, "INR"))
    assert over.value.result.decline_code == "refund_exceeds_charge"


def test_capture_must_be_of_the_whole_amount(gateway):
    _, payment_id = paid(gateway)
    with pytest.raises(GatewayDeclined):
        gateway.capture(CaptureRequest("chpart", payment_id, 10_000, "INR"))


def test_what_razorpay_cannot_do_is_refused_without_a_call(gateway):
    with pytest.raises(GatewayMisconfigured):
        gateway.void(VoidRequest("chv", "pay_x"))
    assert not gateway.supports_void and not gateway.supports_partial_capture


def test_unknown_ids_and_bad_credentials(gateway, rzp_sandbox, settings):
    with pytest.raises(GatewayNotFound):
        gateway.fetch_payment("pay_doesnotexist00")
    wrong = RazorpayGateway(RazorpayConfig(key_id=rzp_sandbox.key_id, key_secret="wrong",
                                           base_url=settings.RAZORPAY_TEST_API_BASE))  # fmt: skip
    with pytest.raises(GatewayMisconfigured):
        wrong.fetch_payment("pay_doesnotexist00")


def test_validation_errors_are_final(gateway):
    with pytest.raises(GatewayError):
        gateway.create_order(OrderRequest("chsmall", 50, "INR"))


def test_an_unreachable_gateway_is_retryable():
    down = RazorpayGateway(RazorpayConfig(key_id="rzp_test_x", key_secret="y", base_url="http://127.0.0.1:9"))
    with pytest.raises(GatewayRetryable):
        down.create_order(OrderRequest("chdown", 1_000, "INR"))
    with pytest.raises(GatewayRetryable):
        down.fetch_payment("pay_x")


def test_a_lost_answer_to_a_write_is_an_unknown_outcome(gateway, sandbox_fault):
    _, payment_id = paid(gateway)
    sandbox_fault("drop_response", match="payments.capture", gateway="razorpay")
    with pytest.raises(GatewayOutcomeUnknown):
        gateway.capture(CaptureRequest("chlost", payment_id, 50_000, "INR"))
    assert gateway.fetch_payment(payment_id).status == "captured"  # it did happen


def test_a_server_error_on_a_read_is_retryable(gateway, sandbox_fault):
    sandbox_fault("http_error", value=500, match="payments.fetch", gateway="razorpay")
    with pytest.raises(GatewayRetryable):
        gateway.fetch_payment("pay_anything000000")


# --- settlements ------------------------------------------------------------------------------


def today_bounds() -> tuple[datetime, datetime]:
    start = datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def test_settlements_are_read_from_the_settlement_report(gateway, rzp_sandbox):
    from apps.sandbox.models import RzpOrder
    from apps.sandbox.services import rzp_settle

    order_id, first = paid(gateway, 50_000)
    _, second = paid(gateway, 20_000)
    for payment_id, amount in ((first, 50_000), (second, 20_000)):
        gateway.capture(CaptureRequest("chcap", payment_id, amount, "INR"))
    refund = gateway.refund(RefundRequest("chrefund0000000003", first, 5_000, "INR"))
    (settlement,) = rzp_settle(account=rzp_sandbox, actor=Actor.system("tests"))
    since, until = today_bounds()

    (batch,) = gateway.settlements(since=since, until=until)

    assert (batch.batch_id, batch.currency, batch.payout_reference) == (settlement.rzp_id, "INR", settlement.utr)
    assert batch.payout_amount == settlement.amount == 70_000 - 1_180 - 472 - 5_000
    assert batch.settled_at == settlement.created_at  # whole seconds, as the API speaks them
    lines = {line.transaction_id: line for line in batch.lines}
    charge = lines[first]
    assert (charge.kind, charge.status, charge.amount, charge.currency) == (
        SettlementLineKind.CHARGE,
        "payment",
        50_000,
        "INR",
    )
    assert (charge.fee, charge.tax) == (1_000, 180)  # Razorpay's fee of 1,180 includes the GST
    assert charge.reference == RzpOrder.objects.get(rzp_id=order_id).receipt  # our reference
    back = lines[refund.transaction_id]
    assert (back.kind, back.amount, back.fee, back.tax) == (SettlementLineKind.REFUND, 5_000, 0, 0)
    assert (back.parent_transaction_id, back.reference) == (first, "chrefund0000000003")
    assert sum(line.fee + line.tax for line in batch.lines) == settlement.fees
    assert gateway.settlements(since=until, until=until + timedelta(days=1)) == []
    assert gateway.settlements(since=since - timedelta(days=1), until=since) == []


def test_settlement_reports_are_read_page_by_page(gateway, rzp_sandbox):
    from apps.sandbox.services import rzp_settle

    for amount in (1_000, 2_000, 3_000):
        _, payment_id = paid(gateway, amount)
        gateway.capture(CaptureRequest("chcap", payment_id, amount, "INR"))
    rzp_settle(account=rzp_sandbox, actor=Actor.system("tests"))
    gateway.RECON_PAGE = 2

    (batch,) = gateway.settlements(since=today_bounds()[0], until=today_bounds()[1])

    assert sorted(line.amount for line in batch.lines) == [1_000, 2_000, 3_000]


def test_a_settlement_report_that_cannot_be_read_is_retryable(gateway, sandbox_fault):
    sandbox_fault("http_error", value=503, match="settlements.report", gateway="razorpay")
    with pytest.raises(GatewayRetryable):
        gateway.settlements(since=today_bounds()[0], until=today_bounds()[1])


@pytest.mark.parametrize(
    "envelope",
    [
        {"event": "payment.captured", "contains": ["payment"], "payload": {"payment": {"entity": "pay_x"}}},
        {"event": "payment.captured", "contains": ["payment"], "payload": {"payment": {"entity": ["x"]}}},
        {"event": "payment.captured", "contains": ["payment"], "payload": {"payment": {"entity": {"notes": ["x"]}}}},
        {"event": "payment.captured", "contains": [{}], "payload": {}},
        ["not", "an", "object"],
    ],
)
def test_a_notification_of_another_shape_is_malformed_not_a_crash(envelope):
    from apps.gateways.base import MalformedNotification
    from apps.gateways.razorpay.notifications import read_notification

    with pytest.raises(MalformedNotification):
        read_notification(json.dumps(envelope).encode(), {"x-razorpay-event-id": "evt_1"})
