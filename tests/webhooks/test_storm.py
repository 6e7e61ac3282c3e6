"""Storm: 1,000 signed notifications, each sent three times, shuffled and concurrent, through real
HTTP and a real Celery worker: exactly 1,000 stored, exactly one effect each."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.gateways.authorizenet import webhook_signature
from apps.payments.models import Payment
from apps.sandbox.models import AnetTransaction
from apps.webhooks.models import IncomingWebhook
from tests.webhooks.helpers import anet_body, anet_url, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

N = 1000


def authorized_payments_captured_at_the_gateway(account: Any, sandbox: Any, count: int) -> list[Payment]:
    """Payments we hold as authorized whose transactions the gateway reports captured (captured
    outside Clearhouse, say): each notification's one possible effect is payment.captured."""
    now = timezone.now()
    charges = AnetTransaction.objects.bulk_create(
        AnetTransaction(
            account=sandbox, transaction_type="authOnlyTransaction", status=AnetTransaction.Status.CAPTURED,
            response_code="1", reason_code="1", reason_text="This transaction has been approved.",
            auth_amount=1000 + i, settle_amount=1000 + i, currency="USD", card_type="Visa", card_last4="1111",
            submitted_at=now,
        )
        for i in range(count)
    )  # fmt: skip
    return Payment.objects.bulk_create(
        Payment(
            merchant_id=account.merchant_id, gateway_account=account, status="authorized", currency="USD",
            amount=charge.auth_amount, amount_authorized=charge.auth_amount, capture=False,
            gateway_transaction_id=charge.trans_id,
        )
        for charge in charges
    )  # fmt: skip


def test_a_storm_of_duplicated_shuffled_notifications_has_exactly_one_effect_each(
    anet_account, anet_sandbox, live_server, celery_worker
):
    payments = authorized_payments_captured_at_the_gateway(anet_account, anet_sandbox, N)
    key = anet_account.credentials()["signature_key"]
    bodies = [
        anet_body(
            p.gateway_transaction_id, "net.authorize.payment.priorAuthCapture.created", notification_id=f"storm-{i}"
        )
        for i, p in enumerate(payments)
    ]
    deliveries = [body for body in bodies for _ in range(3)]
    random.Random(42).shuffle(deliveries)
    url = f"{live_server.url}{anet_url(anet_account)}"

    def send(body: bytes) -> int:
        headers = {"Content-Type": "application/json", "X-ANET-Signature": webhook_signature(body, key)}
        return requests.post(url, data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(send, deliveries))

    assert codes == [200] * (3 * N)
    assert IncomingWebhook.objects.count() == N
    wait_for(lambda: IncomingWebhook.objects.filter(status="processed").count() == N, timeout=600)
    ids = [p.public_id for p in payments]
    assert Payment.objects.filter(pk__in=[p.pk for p in payments], status="captured").count() == N
    assert AuditEvent.objects.filter(action="payment.captured", target_id__in=ids).count() == N
    assert Event.objects.filter(type="payment.captured", object_id__in=ids).count() == N
    assert set(IncomingWebhook.objects.values_list("attempts", flat=True)) == {1}
