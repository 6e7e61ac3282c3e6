"""US bank account (ACH) debits end to end, through the Authorize.Net SDK and the sandbox's
eCheck.Net: debit (processing), settlement (captured), a return two settlement runs later found
by the reconciliation's settlement import (returned, reversed in the ledger, exactly once), a
credit back to a settled debit, and the numbers never stored or logged."""

from __future__ import annotations

import json
import logging

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.logging import mask_card_data
from apps.events.models import Event
from apps.gateways.services import gateway_account_create
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.payments.errors import RefundStateError
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Refund
from apps.payments.services import refund_approve
from apps.reconciliation.models import Discrepancy, SettlementLine
from apps.reconciliation.services import reconcile
from apps.sandbox.models import AnetTransaction
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import settle

SYSTEM = Actor.system("tests")
ROUTING = "121042882"
RETURNED_R01_AFTER_2_RUNS = "9900121234"


def bank(account_number: str = "000123456789", **overrides):
    method = {
        "type": "us_bank_account",
        "routing_number": ROUTING,
        "account_number": account_number,
        "account_type": "checking",
        "account_holder_name": "Ada Lovelace",
    }
    return {**method, **overrides}


def debit(api, amount=5000, key=None, **body):
    payload = {"amount": amount, "currency": "USD", "payment_method": bank(), "reference": "order-ach", **body}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post("/api/v1/payments", payload, format="json", **headers)


def run(account):
    return reconcile(account=account, day=timezone.now().date(), actor=SYSTEM)


def receivable(account) -> int:
    return account_balance(gateway_account_id=account.pk, kind=AccountKind.RECEIVABLE, currency="USD")


def test_debit_settles_then_is_returned_and_reversed_exactly_once(api, anet_account, anet_sandbox):
    response = debit(api, payment_method=bank(RETURNED_R01_AFTER_2_RUNS))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["payment_method_type"], body["card"]) == ("processing", "us_bank_account", None)
    assert body["bank_account"] == {
        "last4": "1234", "routing_last4": "2882", "account_type": "checking", "account_holder_name": "Ada Lovelace",
    }  # fmt: skip
    payment = Payment.objects.get(public_id=body["id"])
    assert AnetTransaction.objects.get(pk=int(payment.gateway_transaction_id) - 40_000_000_000).card_type == "eCheck"

    settle(anet_sandbox)  # run 1: the debit settles
    run(anet_account)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert api.get(f"/api/v1/payments/{payment.public_id}").json()["status"] == "captured"

    settle(anet_sandbox)  # run 2: nothing due yet
    settle(anet_sandbox)  # run 3: the bank returns it (R01)
    report = run(anet_account)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.RETURNED
    assert (payment.failure_code, payment.failure_message) == ("insufficient_funds", "R01: Insufficient Funds")
    reversal = JournalEntry.objects.get(payment=payment, kind=EntryKind.RETURN)
    assert (reversal.amount, reversal.gateway_transaction_id) == (5000, payment.gateway_transaction_id)
    line = SettlementLine.objects.get(kind="return")
    assert (line.entry_id, line.match_status, line.amount) == (reversal.pk, "matched", 5000)
    assert report.opened == {} and not Discrepancy.objects.filter(gateway_account=anet_account).exists()
    assert receivable(anet_account) == 0
    assert AuditEvent.objects.filter(action="payment.returned").count() == 1
    assert Event.objects.filter(type="payment.returned", object_id=payment.public_id).count() == 1
    assert Event.objects.filter(type="payment.succeeded", object_id=payment.public_id).count() == 1
    shown = api.get(f"/api/v1/payments/{payment.public_id}").json()
    assert (shown["status"], shown["failure_code"]) == ("returned", "insufficient_funds")

    again = run(anet_account)  # safe to run twice: nothing more happens

    assert again.opened == {}
    assert JournalEntry.objects.filter(payment=payment, kind=EntryKind.RETURN).count() == 1
    assert Event.objects.filter(type="payment.returned", object_id=payment.public_id).count() == 1
    refund = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 100}, format="json")
    assert refund.status_code == 409


def test_a_returned_debit_fails_the_refunds_waiting_for_approval(api, anet_account, anet_sandbox, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment_id = debit(api, payment_method=bank(RETURNED_R01_AFTER_2_RUNS)).json()["id"]
    settle(anet_sandbox)
    run(anet_account)
    waiting = api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json")
    assert waiting.json()["status"] == "pending_approval"

    settle(anet_sandbox)
    settle(anet_sandbox)  # the bank returns the debit
    run(anet_account)

    payment = Payment.objects.get(public_id=payment_id)
    refund = Refund.objects.get()
    assert (payment.status, payment.amount_refunded, payment.amount_refund_pending) == ("returned", 0, 0)
    assert (refund.status, refund.failure_code) == ("failed", "payment_returned")
    assert AuditEvent.objects.filter(action="refund.failed", target_id=refund.public_id).count() == 1
    assert Event.objects.filter(type="refund.failed", object_id=refund.public_id).count() == 1
    # An approver can no longer send it: the customer's bank already took the money back.
    with pytest.raises(RefundStateError):
        refund_approve(refund=refund, approver=StaffUserFactory(roles=[roles.FINANCE_APPROVER]))
    assert not AnetTransaction.objects.filter(transaction_type="refundTransaction").exists()
    assert Payment.objects.get(public_id=payment_id).status == "returned"


def test_refund_credits_a_settled_debit_back_to_the_account(api, anet_account, anet_sandbox):
    payment_id = debit(api, 3000).json()["id"]
    early = api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json")
    assert early.status_code == 409  # still processing: nothing settled to credit back
    settle(anet_sandbox)
    run(anet_account)

    response = api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "succeeded"
    credit = AnetTransaction.objects.get(pk=int(response.json()["gateway_transaction_id"]) - 40_000_000_000)
    assert (credit.transaction_type, credit.card_type, credit.card_last4) == ("refundTransaction", "eCheck", "6789")
    assert credit.original_id == int(Payment.objects.get(public_id=payment_id).gateway_transaction_id) - 40_000_000_000
    shown = api.get(f"/api/v1/payments/{payment_id}").json()
    assert (shown["status"], shown["amount_refunded"]) == ("partially_refunded", 1000)


@pytest.mark.parametrize(
    ("method", "param"),
    [
        (bank(routing_number="121042883"), "routing_number"),
        (bank(account_number="1234"), "account_number"),
        (bank(account_type="business_checking", echeck_type="WEB"), "echeck_type"),
        ({**bank(), "cvc": "123"}, "cvc"),
    ],
)
def test_bad_bank_details_are_refused_before_anything_is_stored(api, anet_account, method, param):
    response = debit(api, payment_method=method)

    assert response.status_code == 400, response.json()
    assert param in json.dumps(response.json()["error"])
    assert not Payment.objects.exists() and not GatewayTransaction.objects.exists()
    assert not AnetTransaction.objects.exists()


def test_capture_false_is_refused(api, anet_account):
    response = debit(api, capture=False)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_method_not_supported"
    assert not Payment.objects.exists()


def test_a_debit_the_sandbox_declines_is_a_402_with_only_last_four_kept(api, anet_account, anet_sandbox):
    response = debit(api, 10_001)  # the sandbox declines debits over 100.00

    assert response.status_code == 402
    payment = Payment.objects.get()
    assert (payment.status, payment.card_last4, payment.bank_routing_last4) == ("failed", "6789", "2882")


def test_a_stripe_account_refuses_bank_accounts_clearly(api, merchant, stripe_sandbox):
    gateway_account_create(
        merchant=merchant, gateway="stripe", mode="test", currency="USD",
        credentials={"secret_key": stripe_sandbox.secret_key, "publishable_key": stripe_sandbox.publishable_key},
        actor=SYSTEM,
    )  # fmt: skip

    response = debit(api)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_method_not_supported"
    assert response.json()["error"]["param"] == "payment_method.type"
    assert not Payment.objects.exists()


def test_a_razorpay_account_serves_no_bank_debits(api, rzp_account):
    response = debit(api)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_gateway_account"
    assert not Payment.objects.exists()


def test_no_account_or_routing_number_is_stored_or_logged(api, anet_account, anet_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    debit(api, payment_method=bank("000123456789"), key="ach-once")
    debit(api, payment_method=bank("000123456789"), key="ach-once")  # a replay stores nothing more
    logging.getLogger("tests").info("bank %s %s", ROUTING, "000123456789")
    settle(anet_sandbox)
    run(anet_account)

    for payment in Payment.objects.all():
        kept = json.dumps({k: str(v) for k, v in vars(payment).items()})
        assert "000123456789" not in kept and ROUTING not in kept
    for event in Event.objects.all():
        assert "000123456789" not in json.dumps(event.data)
    for audit in AuditEvent.objects.all():
        assert "000123456789" not in json.dumps([audit.before, audit.after], default=str)
    for stored in AnetTransaction.objects.all():
        assert "000123456789" not in json.dumps({k: str(v) for k, v in vars(stored).items()})
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("line", "hidden", "shown"),
    [
        ("debit routing 121042882 account 000123456789 ok", ["121042882", "000123456789"], ["2882", "6789"]),
        ("acct 000123456789/121042882", ["000123456789", "121042882"], ["6789", "2882"]),
        ('{"account_number": "98765432101"}', ["98765432101"], ["2101"]),
        ("<accountNumber>98765432101</accountNumber>", ["98765432101"], ["2101"]),
        ("payment pay_123 batch 10000001 transaction 40000000012", [], ["10000001", "40000000012"]),
    ],
)
def test_log_masking_scrubs_bank_numbers(line, hidden, shown):
    masked = mask_card_data(line)

    for number in hidden:
        assert number not in masked
    for tail in shown:
        assert tail in masked
