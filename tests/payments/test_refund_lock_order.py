"""One lock order for a payment and its refunds, with real threads on PostgreSQL: an approver
releasing a refund while the customer's bank returns the debit. The return holds the payment and
then takes its waiting refunds; approving (and rejecting) takes the payment before the refund, so
it waits behind the return instead of holding the refund the return needs (a deadlock, which
PostgreSQL ends by failing one of them)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.payments.errors import RefundStateError
from apps.payments.models import Payment, Refund
from apps.payments.services import refund_approve, refund_reject
from apps.payments.services.bank_debits import bank_debit_returned
from apps.sandbox.models import AnetTransaction
from tests.accounts.factories import StaffUserFactory
from tests.helpers import wait_for_a_lock_wait
from tests.payments.helpers import settle
from tests.payments.test_bank_account_debits import debit, run

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_refund(api: Any, anet_account: Any, anet_sandbox: Any, settings: Any) -> Refund:
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment_id = debit(api).json()["id"]
    settle(anet_sandbox)
    run(anet_account)  # the debit settles: captured, refundable
    assert api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json").status_code == 202
    return Refund.objects.get(status="pending_approval")


@pytest.mark.parametrize("decide", [refund_approve, refund_reject], ids=["approve", "reject"])
def test_a_decision_waits_behind_a_bank_return(decide: Any, api, anet_account, anet_sandbox, settings) -> None:
    refund = _waiting_refund(api, anet_account, anet_sandbox, settings)
    payment = Payment.objects.get(pk=refund.payment_id)
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    holding, errors = threading.Event(), []

    def bank_return() -> None:
        try:
            with transaction.atomic():
                Payment.objects.select_for_update().get(pk=payment.pk)  # the return has the payment...
                holding.set()
                wait_for_a_lock_wait("the decision")  # ...while the decision waits for a lock...
                bank_debit_returned(  # ...then takes the waiting refund
                    gateway_account_id=anet_account.pk, transaction_id=payment.gateway_transaction_id,
                    amount=payment.amount, return_code="R01", return_reason="Insufficient Funds",
                    returned_at=None, actor=Actor.system("tests"),
                )  # fmt: skip
        except Exception as exc:  # a deadlock would land here
            errors.append(exc)
        finally:
            connections.close_all()

    def decision() -> None:
        holding.wait(timeout=10)
        try:
            decide(refund=refund, approver=approver)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=bank_return), threading.Thread(target=decision)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # The return went first and failed the refund; the decision found it decided, and nothing else.
    assert [type(error) for error in errors] == [RefundStateError], errors
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.failure_code) == ("failed", "payment_returned")
    assert (payment.status, payment.amount_refund_pending, payment.amount_refunded) == ("returned", 0, 0)
    assert not AnetTransaction.objects.filter(transaction_type="refundTransaction").exists()
