"""Bank debits (ACH) for the day close tests: one settled through the sandbox, and its return by
the customer's bank on a given day, found by that day's settlement import."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.utils import timezone

from apps.audit.actors import Actor
from apps.payments.models import Payment, PaymentStatus
from apps.reconciliation.services import reconcile
from apps.sandbox.models import AnetBatch, AnetTransaction
from apps.sandbox.services import anet_return
from tests.payments.helpers import settle

SYSTEM = Actor.system("tests")


def settled_bank_debit(api: Any, gateway_account: Any, sandbox: Any, amount: int) -> Payment:
    """A bank debit the gateway accepted and settled today (captured)."""
    method = {
        "type": "us_bank_account",
        "routing_number": "121042882",
        "account_number": "000123456789",
        "account_type": "checking",
        "account_holder_name": "Ada Lovelace",
    }
    response = api.post(
        "/api/v1/payments", {"amount": amount, "currency": "USD", "payment_method": method}, format="json"
    )
    assert response.status_code == 201, response.json()
    settle(sandbox)
    reconcile(account=gateway_account, day=timezone.now().date(), actor=SYSTEM)
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert payment.status == PaymentStatus.CAPTURED
    return payment


def returned_by_the_bank(gateway_account: Any, sandbox: Any, payment: Payment, day: date) -> None:
    """The customer's bank returns the debit (R01) on `day`, in that day's eCheck batch, and the
    settlement import of `day` finds it (the payment becomes returned, the ledger reverses it)."""
    returned = anet_return(account=sandbox, trans_id=payment.gateway_transaction_id, code="R01", actor=SYSTEM)
    moment = datetime.combine(day, time(15), tzinfo=UTC)
    AnetBatch.objects.filter(pk=returned.return_batch_id).update(settled_at=moment)
    AnetTransaction.objects.filter(pk=returned.pk).update(returned_at=moment)
    reconcile(account=gateway_account, day=day, actor=SYSTEM)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.RETURNED
