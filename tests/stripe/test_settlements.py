"""End to end through the official Stripe SDK and our Stripe sandbox: pay and refund through our
API, let the sandbox pay the balance out (with injected discrepancies), import the payout and its
balance transactions, match, resolve. The ledger balances at every step: Stripe's fees land in the
fees account, the payout in the bank, and the receivable is empty once everything paid out is
explained."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.settlement_interface import SettlementLineKind
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment, Refund
from apps.reconciliation.discrepancies import discrepancy_resolve
from apps.reconciliation.errors import ReconciliationError
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine
from apps.reconciliation.services import reconcile
from apps.sandbox.models import StripeBalanceTransaction, StripeRefund
from apps.sandbox.stripe.balance import processing_fee
from apps.sandbox.stripe.services import stripe_payout_run, stripe_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = Actor.system("tests")
NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def operator(db: Any) -> Any:
    return StaffUserFactory(roles=["Finance operator"])


def pay(api: Any, amount: int) -> Payment:
    body = {
        "amount": amount,
        "currency": "USD",
        "payment_method": {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": NEXT_YEAR},
    }
    answer = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert answer.status_code == 201, answer.json()
    payment = Payment.objects.get(public_id=answer.json()["id"])
    assert payment.status == "captured" and payment.gateway_transaction_id.startswith("pi_")
    return payment


def refund(api: Any, payment: Payment, amount: int) -> Any:
    return api.post(
        f"/api/v1/payments/{payment.public_id}/refunds",
        {"amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def payout(sandbox: Any) -> list[Any]:
    return stripe_payout_run(account=sandbox, actor=SYSTEM)


def run(account: Any, **kwargs: Any) -> Any:
    return reconcile(account=account, day=timezone.now().date(), actor=SYSTEM, **kwargs)


def balance(account: Any, kind: str) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="USD")


def receivable(account: Any) -> int:
    return balance(account, AccountKind.RECEIVABLE)


def fees_of(*amounts: int) -> int:
    """Stripe's 2.9 % + 30 per charge, as the sandbox charges it."""
    return sum(processing_fee(amount) for amount in amounts)


def inject(sandbox: Any, kind: str, payment: Payment | None = None, amount: int | None = None) -> Any:
    transaction_id = payment.gateway_transaction_id if payment else ""
    return stripe_settlement_discrepancy(
        account=sandbox, kind=kind, transaction_id=transaction_id, amount=amount, actor=SYSTEM
    )


def test_payments_and_a_refund_are_paid_out_less_the_fees_and_every_line_matches(api, stripe_account, stripe_sandbox):
    first, second = pay(api, 10_000), pay(api, 20_000)
    assert refund(api, first, 4_000).status_code == 201
    (paid,) = payout(stripe_sandbox)

    report = run(stripe_account)

    fees = fees_of(10_000, 20_000)
    assert fees == 320 + 610
    assert (report.imported, report.matched, report.opened) == ([paid.stripe_id], 3, {})
    batch = SettlementBatch.objects.get()
    assert (batch.gateway_batch_id, batch.currency, batch.line_count) == (paid.stripe_id, "USD", 3)
    assert (batch.charges_amount, batch.refunds_amount, batch.fees_amount) == (30_000, 4_000, fees)
    assert batch.payout_amount == paid.amount == 30_000 - 4_000 - fees
    assert batch.payout_reference == paid.stripe_id
    charges = SettlementLine.objects.filter(kind=SettlementLineKind.CHARGE)
    assert {line.entry.payment_id for line in charges} == {first.pk, second.pk}
    assert {line.matched_by for line in SettlementLine.objects.all()} == {"gateway_id"}
    line = charges.get(gateway_transaction_id=second.gateway_transaction_id)
    assert (line.amount, line.fee, line.reference) == (20_000, 610, second.gateway_transactions.get().reference)
    our_refund = Refund.objects.get()
    refund_line = SettlementLine.objects.get(kind=SettlementLineKind.REFUND)
    assert (refund_line.entry.refund_id, refund_line.amount, refund_line.fee) == (our_refund.pk, 4_000, 0)
    assert (refund_line.gateway_transaction_id, refund_line.parent_transaction_id) == (
        our_refund.gateway_transaction_id,
        first.gateway_transaction_id,
    )
    assert refund_line.reference == our_refund.gateway_transactions.get().reference
    assert (receivable(stripe_account), balance(stripe_account, AccountKind.CLEARING)) == (0, 0)
    assert (balance(stripe_account, AccountKind.FEES), balance(stripe_account, AccountKind.BANK)) == (
        fees,
        30_000 - 4_000 - fees,
    )
    assert AuditEvent.objects.filter(action="settlement.imported").count() == 1


def test_importing_the_same_payout_again_changes_nothing(api, stripe_account, stripe_sandbox):
    pay(api, 5_000)
    payout(stripe_sandbox)
    run(stripe_account)
    counts = (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count())

    again = run(stripe_account)

    assert (again.imported, again.matched, again.opened) == ([], 0, {})
    assert (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count()) == counts
    assert payout(stripe_sandbox) == []  # nothing left to pay out either


def test_only_the_days_automatic_payouts_are_imported(api, stripe_account, stripe_sandbox, stripe_gateway, stripe_sdk):
    pay(api, 5_000)
    (automatic,) = payout(stripe_sandbox)
    pay(api, 3_000)
    StripeBalanceTransaction.objects.filter(payout_id__isnull=True).update(available_on=timezone.now())  # 2 days on
    manual = stripe_sdk.v1.payouts.create(params={"amount": 1_000, "currency": "usd"})
    now = timezone.now()

    today = stripe_gateway.settlements(since=now - timedelta(hours=1), until=now + timedelta(hours=1))
    yesterday = stripe_gateway.settlements(since=now - timedelta(days=1, hours=1), until=now - timedelta(hours=1))

    assert manual.automatic is False and manual.status == "paid"
    assert [batch.batch_id for batch in today] == [automatic.stripe_id]  # the manual payout carries no lines
    assert yesterday == []
    (later,) = payout(stripe_sandbox)
    assert later.amount == 3_000 - fees_of(3_000) - 1_000  # the manual payout was taken from this balance
    (batch,) = [b for b in stripe_gateway.settlements(since=now - timedelta(hours=1), until=now + timedelta(hours=1))
                if b.batch_id == later.stripe_id]  # fmt: skip
    kinds = sorted((line.kind, line.amount) for line in batch.lines)
    assert kinds == [(SettlementLineKind.ADJUSTMENT, 1_000), (SettlementLineKind.CHARGE, 3_000)]


def test_a_payment_held_out_of_the_payout_is_missing_at_the_gateway(api, stripe_account, stripe_sandbox, operator):
    lost, kept = pay(api, 15_000), pay(api, 7_000)
    held = inject(stripe_sandbox, "missing", lost)
    payout(stripe_sandbox)

    report = run(stripe_account)

    assert report.opened == {"missing_at_gateway": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.our_amount, d.gateway_amount, d.currency) == (lost.pk, 15_000, None, "USD")
    assert receivable(stripe_account) == 15_000  # what we are still owed
    assert run(stripe_account).opened == {}  # found again, not opened twice
    assert kept.pk in SettlementLine.objects.values_list("entry__payment_id", flat=True)
    held.refresh_from_db()
    assert held.payout_id is None  # still in the balance, not paid out

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator, note="never paid out")

    lost.refresh_from_db()
    assert (lost.status, lost.amount_captured) == ("failed", 0)
    assert receivable(stripe_account) == 0
    assert balance(stripe_account, AccountKind.BANK) == 7_000 - fees_of(7_000)


def test_a_payment_paid_out_for_another_amount_accepted(api, stripe_account, stripe_sandbox, operator):
    short = pay(api, 10_000)
    inject(stripe_sandbox, "amount", short, amount=9_000)
    (paid,) = payout(stripe_sandbox)

    assert run(stripe_account).opened == {"amount_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.our_amount, d.gateway_amount, d.difference) == (short.pk, 10_000, 9_000, -1_000)
    assert paid.amount == 9_000 - fees_of(10_000)
    assert receivable(stripe_account) == 1_000
    assert (balance(stripe_account, AccountKind.CLEARING), balance(stripe_account, AccountKind.BANK)) == (
        0,
        paid.amount,
    )

    discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator, note="short-paid")

    d.refresh_from_db()
    assert (d.status, d.resolution, d.resolution_amount) == ("resolved", "accept_gateway", 1_000)
    assert (receivable(stripe_account), balance(stripe_account, AccountKind.ADJUSTMENTS)) == (0, 1_000)


def test_an_unknown_payment_becomes_ours_from_the_gateway_record(api, stripe_account, stripe_sandbox, operator):
    pay(api, 5_000)
    stranger = inject(stripe_sandbox, "unknown", amount=4_200)
    payout(stripe_sandbox)

    assert run(stripe_account).opened == {"missing_on_our_side": 1}
    d = Discrepancy.objects.get()
    assert (d.gateway_transaction_id, d.gateway_amount, d.our_amount) == (stranger.stripe_id, 4_200, None)
    assert receivable(stripe_account) == -4_200  # paid out money our books do not hold
    with pytest.raises(ReconciliationError):
        discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    discrepancy_resolve(discrepancy=d, resolution="create_payment", user=operator)

    created = Payment.objects.get(gateway_transaction_id=stranger.stripe_id)
    assert (created.status, created.amount_captured, created.currency) == ("captured", 4_200, "USD")
    assert (created.card_brand, created.card_last4) == ("visa", "4242")
    line = SettlementLine.objects.get(gateway_transaction_id=stranger.stripe_id)
    assert (line.match_status, line.entry.payment_id) == (MatchStatus.MATCHED, created.pk)
    assert receivable(stripe_account) == 0
    assert balance(stripe_account, AccountKind.FEES) == fees_of(5_000, 4_200)


def test_a_refund_paid_out_that_we_think_failed(api, stripe_account, stripe_sandbox, operator):
    payment = pay(api, 10_000)
    payout(stripe_sandbox)
    run(stripe_account)
    inject(stripe_sandbox, "refund_we_think_failed")
    declined = refund(api, payment, 3_000)
    assert declined.status_code == 402, declined.json()
    ours = Refund.objects.get()
    assert (ours.status, ours.gateway_transaction_id) == ("failed", "")
    theirs = StripeRefund.objects.get()
    assert theirs.status == "succeeded"  # yet it went through
    pay(api, 20_000)
    payout(stripe_sandbox)

    assert run(stripe_account).opened == {"status_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.refund_id, d.payment_id, d.gateway_amount, d.gateway_transaction_id) == (
        ours.pk,
        payment.pk,
        3_000,
        theirs.stripe_id,
    )
    assert receivable(stripe_account) == 3_000

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    ours.refresh_from_db()
    payment.refresh_from_db()
    assert (ours.status, ours.gateway_transaction_id) == ("succeeded", theirs.stripe_id)
    assert (payment.amount_refunded, payment.status) == (3_000, "partially_refunded")
    assert receivable(stripe_account) == 0
    assert JournalEntry.objects.filter(refund=ours, kind=EntryKind.REFUND).count() == 1
