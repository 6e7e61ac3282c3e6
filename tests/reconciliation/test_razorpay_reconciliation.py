"""End to end through the Razorpay SDK and sandbox: pay in Checkout, settle (with injected
discrepancies), import the settlement report, match, resolve; the ledger balances at every step,
the fees land in the fees account, the payout in the bank, and the receivable is empty once
everything settled is explained."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.catalog.models import Product
from apps.catalog.services import price_create, product_create
from apps.gateways.models import GatewayAccount
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.merchants.models import Merchant
from apps.payments.models import Payment, Refund
from apps.reconciliation.discrepancies import discrepancy_resolve
from apps.reconciliation.errors import ReconciliationError
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine
from apps.reconciliation.services import reconcile
from apps.sandbox.models import RzpAccount, RzpPayment, RzpRefund, RzpSettlement
from apps.sandbox.razorpay.engine import fee_and_tax
from apps.sandbox.services import rzp_settle, rzp_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.catalog.helpers import handler_response, pay, start, verify

SYSTEM = Actor.system("tests")


@pytest.fixture
def product(merchant: Merchant) -> Product:
    return product_create(merchant=merchant, name="Day pass", actor=SYSTEM)


@pytest.fixture
def operator(db: Any) -> Any:
    return StaffUserFactory(roles=["Finance operator"])


@pytest.fixture
def checkout(publishable: APIClient, product: Product, rzp_account: GatewayAccount) -> Any:
    """Pay `amount` paise in Checkout and verify it, as a shopper and our storefront do."""

    def paid(amount: int) -> Payment:
        price = price_create(product=product, amount=amount, currency="INR", actor=SYSTEM)
        order = start(publishable, price).json()
        result = pay(order)
        assert result.ok, result.error
        assert verify(publishable, handler_response(result)).status_code == 200
        payment = Payment.objects.get(public_id=order["payment"])
        assert (payment.status, payment.gateway_transaction_id) == ("captured", result.payment_id)
        return payment

    return paid


def run(account: GatewayAccount, **kwargs: Any) -> Any:
    return reconcile(account=account, day=timezone.now().date(), actor=SYSTEM, **kwargs)


def settle(sandbox: RzpAccount) -> list[RzpSettlement]:
    return rzp_settle(account=sandbox, actor=SYSTEM)


def balance(account: GatewayAccount, kind: str) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="INR")


def receivable(account: GatewayAccount) -> int:
    return balance(account, AccountKind.RECEIVABLE)


def fees_of(*amounts: int) -> int:
    """Razorpay's 2 % + 18 % GST on it, per payment, in paise."""
    return sum(fee_and_tax(amount)[0] for amount in amounts)


def inject(sandbox: RzpAccount, kind: str, payment: Payment | None = None, amount: int | None = None) -> Any:
    payment_id = payment.gateway_transaction_id if payment else ""
    return rzp_settlement_discrepancy(account=sandbox, kind=kind, payment_id=payment_id, amount=amount, actor=SYSTEM)


def test_a_clean_day_pays_out_less_the_fees_and_matches_every_line(rzp_account, rzp_sandbox, checkout):
    payments = [checkout(amount) for amount in (10_000, 20_000, 49_900)]
    (settlement,) = settle(rzp_sandbox)

    report = run(rzp_account)

    fees = fees_of(10_000, 20_000, 49_900)
    assert fees == 236 + 472 + 1178
    assert (report.imported, report.matched, report.opened) == ([settlement.rzp_id], 3, {})
    batch = SettlementBatch.objects.get()
    assert (batch.gateway_batch_id, batch.currency, batch.line_count) == (settlement.rzp_id, "INR", 3)
    assert (batch.charges_amount, batch.fees_amount, batch.payout_amount) == (79_900, fees, 79_900 - fees)
    assert batch.payout_reference == settlement.utr and settlement.amount == 79_900 - fees
    lines = SettlementLine.objects.order_by("pk")
    assert {line.entry.payment_id for line in lines} == {p.pk for p in payments}
    assert {line.matched_by for line in lines} == {"gateway_id"}
    line = lines.get(gateway_transaction_id=payments[2].gateway_transaction_id)
    assert (line.fee, line.tax, line.reference) == (
        998,
        180,
        payments[2].gateway_transactions.get(kind="order").reference,
    )
    assert (receivable(rzp_account), balance(rzp_account, AccountKind.CLEARING)) == (0, 0)
    assert (balance(rzp_account, AccountKind.FEES), balance(rzp_account, AccountKind.BANK)) == (fees, 79_900 - fees)
    assert AuditEvent.objects.filter(action="settlement.imported").count() == 1


def test_importing_the_same_settlement_again_changes_nothing(rzp_account, rzp_sandbox, checkout):
    checkout(10_000)
    settle(rzp_sandbox)
    run(rzp_account)
    counts = (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count())

    again = run(rzp_account)

    assert (again.imported, again.matched, again.opened) == ([], 0, {})
    assert (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count()) == counts
    assert settle(rzp_sandbox) == []  # nothing left to settle either


def test_a_refund_reduces_the_payout_and_matches_our_refund(api, rzp_account, rzp_sandbox, checkout):
    payment = checkout(10_000)
    settle(rzp_sandbox)
    run(rzp_account)
    assert (
        api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 4_000}, format="json").status_code == 201
    )
    checkout(20_000)
    (second,) = settle(rzp_sandbox)

    report = run(rzp_account)

    assert (report.matched, report.opened) == (2, {})
    line = SettlementLine.objects.get(kind="refund")
    refund = Refund.objects.get()
    assert (line.entry.refund_id, line.amount, line.fee, line.tax) == (refund.pk, 4_000, 0, 0)
    assert (line.parent_transaction_id, line.reference) == (
        payment.gateway_transaction_id,
        refund.gateway_transactions.get().reference,
    )
    assert second.amount == 20_000 - fees_of(20_000) - 4_000
    assert SettlementBatch.objects.get(gateway_batch_id=second.rzp_id).payout_amount == second.amount
    assert (receivable(rzp_account), balance(rzp_account, AccountKind.CLEARING)) == (0, 0)
    assert balance(rzp_account, AccountKind.BANK) == 30_000 - fees_of(10_000, 20_000) - 4_000


def test_a_payment_missing_from_the_settlement_then_adjusting_our_record(rzp_account, rzp_sandbox, checkout, operator):
    lost, kept = checkout(15_000), checkout(7_000)
    inject(rzp_sandbox, "missing", lost)
    settle(rzp_sandbox)

    report = run(rzp_account)

    assert report.opened == {"missing_at_gateway": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.our_amount, d.gateway_amount, d.currency) == (lost.pk, 15_000, None, "INR")
    assert receivable(rzp_account) == 15_000  # what we are still owed
    assert run(rzp_account).opened == {}  # found again, not opened twice

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator, note="never settled")

    lost.refresh_from_db()
    assert (lost.status, lost.amount_captured, lost.failure_code) == ("failed", 0, "not_settled")
    assert receivable(rzp_account) == 0
    assert balance(rzp_account, AccountKind.BANK) == 7_000 - fees_of(7_000)
    assert kept.pk in SettlementLine.objects.values_list("entry__payment_id", flat=True)
    assert not RzpPayment.objects.get(rzp_id=lost.gateway_transaction_id).settlement_id


def test_a_payment_settled_for_another_amount_accepted(rzp_account, rzp_sandbox, checkout, operator):
    short = checkout(10_000)
    inject(rzp_sandbox, "amount", short, amount=9_000)
    settle(rzp_sandbox)

    assert run(rzp_account).opened == {"amount_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.our_amount, d.gateway_amount, d.difference) == (short.pk, 10_000, 9_000, -1_000)
    assert receivable(rzp_account) == 1_000
    assert (balance(rzp_account, AccountKind.CLEARING), balance(rzp_account, AccountKind.BANK)) == (
        0,
        9_000 - fees_of(10_000),
    )

    discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator, note="issuer short-paid")

    d.refresh_from_db()
    assert (d.status, d.resolution, d.resolution_amount) == ("resolved", "accept_gateway", 1_000)
    assert (receivable(rzp_account), balance(rzp_account, AccountKind.ADJUSTMENTS)) == (0, 1_000)


def test_an_unknown_payment_becomes_ours_from_the_gateway_record(rzp_account, rzp_sandbox, checkout, operator):
    checkout(5_000)
    stranger = inject(rzp_sandbox, "unknown", amount=4_200)
    settle(rzp_sandbox)

    assert run(rzp_account).opened == {"missing_on_our_side": 1}
    d = Discrepancy.objects.get()
    assert (d.gateway_transaction_id, d.gateway_amount, d.our_amount) == (stranger.rzp_id, 4_200, None)
    assert receivable(rzp_account) == -4_200  # settled money our books do not hold
    with pytest.raises(ReconciliationError):
        discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    discrepancy_resolve(discrepancy=d, resolution="create_payment", user=operator)

    created = Payment.objects.get(gateway_transaction_id=stranger.rzp_id)
    assert (created.status, created.amount_captured, created.currency) == ("captured", 4_200, "INR")
    assert (created.card_brand, created.card_last4) == ("visa", "1111")
    line = SettlementLine.objects.get(gateway_transaction_id=stranger.rzp_id)
    assert (line.match_status, line.entry.payment_id) == (MatchStatus.MATCHED, created.pk)
    assert receivable(rzp_account) == 0
    assert balance(rzp_account, AccountKind.FEES) == fees_of(5_000, 4_200)


def test_a_refund_settled_that_we_think_failed(api, rzp_account, rzp_sandbox, checkout, operator):
    payment = checkout(10_000)
    settle(rzp_sandbox)
    run(rzp_account)
    inject(rzp_sandbox, "refund_we_think_failed")
    declined = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 3_000}, format="json")
    assert declined.status_code == 402, declined.json()
    refund = Refund.objects.get()
    assert (refund.status, refund.gateway_transaction_id) == ("failed", "")
    assert RzpRefund.objects.get().status == "processed"  # yet it went through
    checkout(20_000)
    settle(rzp_sandbox)

    assert run(rzp_account).opened == {"status_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.refund_id, d.payment_id, d.gateway_amount) == (refund.pk, payment.pk, 3_000)
    assert receivable(rzp_account) == 3_000

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.gateway_transaction_id) == ("succeeded", RzpRefund.objects.get().rzp_id)
    assert (payment.amount_refunded, payment.status) == (3_000, "partially_refunded")
    assert receivable(rzp_account) == 0
    assert JournalEntry.objects.filter(refund=refund, kind=EntryKind.REFUND).count() == 1
