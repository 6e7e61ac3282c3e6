"""A billing batch opens all its charges first and sends them one by one: a charge still waiting
its turn must not look stale to the sweeper (ruled "never happened", then sent anyway and charged
again by the next attempt). Real threads, the sandbox over HTTP holding the batch's first charge."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from apps.payments.models import GatewayTransaction
from apps.payments.services import gateway_transaction_resolve, gateway_transactions_sweep
from apps.sandbox.models import AnetTransaction, SandboxFault
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Invoice
from apps.subscriptions.services import subscription_create
from tests.helpers import wait_for

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_charge_waiting_its_turn_in_a_batch_is_not_ruled_lost_and_then_sent(
    merchant, customer, card, make_plan, sandbox_fault, sent_tasks, settings
):
    settings.GATEWAY_STALE_CALL_SECONDS = 1.5  # longer than any one call takes here
    plan = make_plan()
    subs = [
        subscription_create(merchant=merchant, customer=customer, plan=plan, livemode=False, now=T0, actor=ACTOR)
        for _ in range(3)
    ]
    renewal = subs[0].current_period_end
    # The batch's first two charges take 1.2 s each at the gateway; the third waits its turn.
    slow = sandbox_fault("latency", 1200, match="createTransactionRequest", remaining=2)

    def run() -> None:
        try:
            billing_run(as_of=renewal, batch_size=3)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: not SandboxFault.objects.filter(pk=slow.pk, remaining__gt=0).exists(), timeout=30)
        time.sleep(0.7)  # the second charge is 0.7 s out; the batch began 1.9 s ago
        # The sweeper and the resolver, as their beat and tasks run them.
        for pk in gateway_transactions_sweep():
            gateway_transaction_resolve(gateway_transaction_id=pk)
    finally:
        thread.join(timeout=60)
    for later in (1, 2, 24, 48):
        billing_run(as_of=renewal + timedelta(hours=later))

    for sub in subs:
        invoice = Invoice.objects.get(subscription=sub, period_start=renewal)
        charged = AnetTransaction.objects.filter(
            transaction_type="authCaptureTransaction", response_code="1", invoice_number__startswith=f"in{invoice.pk}a"
        )
        assert (invoice.status, charged.count()) == ("paid", 1), list(charged.values_list("invoice_number", flat=True))
        assert invoice.payment.amount_captured == 1500
    assert not GatewayTransaction.objects.filter(status__in=["pending", "unknown"]).exists()
