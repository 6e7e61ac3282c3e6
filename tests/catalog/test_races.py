"""Verify and webhooks arriving at the same moment, on PostgreSQL with real threads."""

from __future__ import annotations

import pytest

from apps.catalog.models import Entitlement
from apps.events.models import Event
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.catalog.helpers import handler_response, pay, start, verify
from tests.catalog.test_checkout import razorpay_webhook, sdk
from tests.payments.test_races import run_parallel

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("auto_capture", [True, False])
def test_verify_and_webhooks_at_once_complete_the_checkout_exactly_once(
    client, publishable, price, rzp_account, settings, auto_capture
):
    settings.RAZORPAY_AUTO_CAPTURE = auto_capture
    order = start(publishable, price).json()
    result = pay(order)
    paid = sdk(rzp_account).payment.fetch(result.payment_id)
    for event in ("payment.authorized", "order.paid"):
        razorpay_webhook(client, rzp_account, event, paid)
    webhook_ids = list(IncomingWebhook.objects.values_list("pk", flat=True))

    def work(index: int) -> int:
        if index < len(webhook_ids):
            return incoming_webhook_process(webhook_id=webhook_ids[index]).pk
        return verify(publishable, handler_response(result)).status_code

    outcomes = run_parallel(6, work)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert set(outcomes[len(webhook_ids) :]) <= {200, 409}  # 409: another request is capturing; retry
    for pk in webhook_ids:  # a webhook that met a capture in flight is retried later
        incoming_webhook_process(webhook_id=pk)
    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.CAPTURED
    assert Entitlement.objects.count() == 1
    assert Event.objects.filter(type="payment.captured", object_id=payment.public_id).count() == 1
    assert Event.objects.filter(type="checkout.completed").count() == 1
    assert GatewayTransaction.objects.filter(kind="capture", status="succeeded").count() == (0 if auto_capture else 1)
    assert verify(publishable, handler_response(result)).json()["status"] == "completed"


def test_parallel_checkouts_on_one_account_do_not_deadlock(publishable, price, rzp_account):
    # Locking a payment must not lock its gateway account too (select_for_update of "self"):
    # that lock, taken by every checkout of the account, deadlocked against the audit chain.
    outcomes = run_parallel(8, lambda index: start(publishable, price).status_code)
    assert outcomes == [201] * 8
    assert Payment.objects.filter(status=PaymentStatus.PENDING).exclude(gateway_order_id="").count() == 8
