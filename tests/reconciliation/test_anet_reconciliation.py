"""End to end through the Authorize.Net SDK and sandbox: pay, settle (with injected
discrepancies), import the settlement, match, resolve; the ledger balances at every step and the
receivable is empty once everything settled is explained."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment, Refund
from apps.reconciliation.discrepancies import (
    discrepancy_approve_write_off,
    discrepancy_reject_write_off,
    discrepancy_resolve,
)
from apps.reconciliation.errors import DiscrepancyStateError, ReconciliationError, ResolutionNotAllowed
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine
from apps.reconciliation.services import reconcile, settlement_batch_store
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = pytest.mark.sqlite

SYSTEM = Actor.system("tests")


@pytest.fixture
def operator(db):
    return StaffUserFactory(roles=["Finance operator"])


@pytest.fixture
def approver(db):
    return StaffUserFactory(roles=["Finance approver"])


def today():
    return timezone.now().date()


def pay(api, amount: int) -> Payment:
    response = purchase(api, amount)
    assert response.status_code == 201, response.json()
    return Payment.objects.get(public_id=response.json()["id"])


def run(account, **kwargs):
    return reconcile(account=account, day=today(), actor=SYSTEM, **kwargs)


def receivable(account) -> int:
    return account_balance(gateway_account_id=account.pk, kind=AccountKind.RECEIVABLE, currency="USD")


def balance(account, kind) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="USD")


def inject(sandbox, kind: str, payment: Payment | None = None, amount: int | None = None):
    trans_id = payment.gateway_transaction_id if payment else ""
    return anet_settlement_discrepancy(account=sandbox, kind=kind, trans_id=trans_id, amount=amount, actor=SYSTEM)


def test_a_clean_day_matches_every_line_and_moves_the_money_to_the_bank(api, anet_account, anet_sandbox):
    payments = [pay(api, amount) for amount in (1000, 2000, 3000)]
    settle(anet_sandbox)

    report = run(anet_account)

    assert (len(report.imported), report.matched, report.opened) == (1, 3, {})
    batch = SettlementBatch.objects.get()
    assert (batch.line_count, batch.charges_amount, batch.payout_amount) == (3, 6000, 6000)
    lines = SettlementLine.objects.order_by("pk")
    assert {line.entry.payment_id for line in lines} == {p.pk for p in payments}
    assert {line.matched_by for line in lines} == {"gateway_id"}
    assert (receivable(anet_account), balance(anet_account, AccountKind.CLEARING)) == (0, 0)
    assert balance(anet_account, AccountKind.BANK) == 6000
    assert AuditEvent.objects.filter(action="settlement.imported").count() == 1


def test_importing_the_same_batch_again_changes_nothing(api, anet_account, anet_sandbox):
    pay(api, 1000)
    settle(anet_sandbox)
    run(anet_account)
    counts = (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count())

    again = run(anet_account)

    assert (again.imported, again.matched, again.opened) == ([], 0, {})
    assert (SettlementBatch.objects.count(), SettlementLine.objects.count(), JournalEntry.objects.count()) == counts


def test_a_refund_line_matches_our_refund(api, anet_account, anet_sandbox):
    payment = pay(api, 1000)
    settle(anet_sandbox)
    run(anet_account)
    api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 400}, format="json")
    settle(anet_sandbox)

    report = run(anet_account)

    assert (report.matched, report.opened) == (1, {})
    line = SettlementLine.objects.get(kind="refund")
    assert (line.entry.kind, line.amount) == (EntryKind.REFUND, 400)
    assert receivable(anet_account) == 0
    assert balance(anet_account, AccountKind.BANK) == 600


def test_missing_at_the_gateway_then_adjusting_our_record(api, anet_account, anet_sandbox, operator):
    lost, kept = pay(api, 1500), pay(api, 700)
    inject(anet_sandbox, "missing", lost)
    settle(anet_sandbox)

    report = run(anet_account)

    assert report.opened == {"missing_at_gateway": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.our_amount, d.gateway_amount) == (lost.pk, 1500, None)
    assert receivable(anet_account) == 1500  # what we are still owed
    assert run(anet_account).opened == {}  # found again, not opened twice

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator, note="never charged")

    lost.refresh_from_db()
    assert (lost.status, lost.amount_captured, lost.failure_code) == ("failed", 0, "not_settled")
    assert JournalEntry.objects.filter(payment=lost, kind=EntryKind.CAPTURE_REVERSAL).exists()
    assert receivable(anet_account) == 0
    d.refresh_from_db()
    assert (d.status, d.resolution, d.requested_by) == ("resolved", "adjust_ours", operator)
    assert kept.pk in SettlementLine.objects.values_list("entry__payment_id", flat=True)


def test_a_late_settlement_closes_its_missing_at_gateway_discrepancy(api, anet_account, anet_sandbox):
    late = pay(api, 1500)
    inject(anet_sandbox, "missing", late)
    pay(api, 100)
    settle(anet_sandbox)
    run(anet_account)
    AnetTransaction.objects.filter(account=anet_sandbox).update(held_from_settlement=False)
    settle(anet_sandbox)

    report = run(anet_account)

    assert (report.settled_late, report.matched) == (1, 1)
    d = Discrepancy.objects.get()
    assert (d.status, d.resolution) == ("resolved", "settled_late")
    assert receivable(anet_account) == 0


def test_a_charge_we_adjusted_away_that_settles_later_is_a_status_mismatch(api, anet_account, anet_sandbox, operator):
    """Before: the late line matched the charge's original capture entry by its transaction id,
    silently. The receivable was left at minus the amount, the payment failed though we were paid."""
    late = pay(api, 1500)
    inject(anet_sandbox, "missing", late)
    pay(api, 100)
    settle(anet_sandbox)
    run(anet_account)
    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="adjust_ours", user=operator)
    AnetTransaction.objects.filter(account=anet_sandbox).update(held_from_settlement=False)
    settle(anet_sandbox)  # the gateway settles it after all

    assert run(anet_account).opened == {"status_mismatch": 1}
    d = Discrepancy.objects.get(status="open")
    assert (d.payment_id, d.gateway_amount) == (late.pk, 1500)

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    late.refresh_from_db()
    assert (late.status, late.amount_captured) == ("captured", 1500)
    assert receivable(anet_account) == 0
    assert run(anet_account).opened == {}


def test_an_amount_mismatch_written_off_by_a_second_person(api, anet_account, anet_sandbox, operator, approver):
    short = pay(api, 1000)
    inject(anet_sandbox, "amount", short, amount=900)
    settle(anet_sandbox)

    assert run(anet_account).opened == {"amount_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.our_amount, d.gateway_amount, d.difference) == (1000, 900, -100)
    assert receivable(anet_account) == 100

    discrepancy_resolve(discrepancy=d, resolution="write_off", user=operator, note="issuer short-paid")
    d.refresh_from_db()
    assert (d.status, d.resolution_amount) == ("pending_approval", 100)
    assert receivable(anet_account) == 100  # nothing posted before the approval
    with pytest.raises(ResolutionNotAllowed):
        discrepancy_approve_write_off(discrepancy=d, approver=operator)  # no permission
    with pytest.raises(DiscrepancyStateError):
        discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator)
    assert (Discrepancy.objects.get().status, receivable(anet_account)) == ("pending_approval", 100)

    discrepancy_approve_write_off(discrepancy=d, approver=approver)

    d.refresh_from_db()
    assert (d.status, d.resolution, d.approved_by) == ("resolved", "write_off", approver)
    assert (receivable(anet_account), balance(anet_account, AccountKind.WRITE_OFFS)) == (0, 100)
    assert d.resolution_entry.kind == EntryKind.WRITE_OFF
    assert AuditEvent.objects.filter(action__in=["discrepancy.writeoff_requested", "discrepancy.resolved"]).count() == 2
    approved = AuditEvent.objects.get(action="discrepancy.writeoff_approved", target_id=d.public_id)
    assert (approved.actor_id, approved.merchant_id) == (str(approver.pk), anet_account.merchant_id)
    assert approved.after == {
        "approver": approver.username, "requested_by": operator.pk, "amount": 100, "currency": "USD",
        "entry": d.resolution_entry.public_id, "note": "",
    }  # fmt: skip
    assert approved.pk < AuditEvent.objects.get(action="discrepancy.resolved", target_id=d.public_id).pk


def test_a_write_off_needs_someone_other_than_the_requester(api, anet_account, anet_sandbox, approver):
    short = pay(api, 1000)
    inject(anet_sandbox, "amount", short, amount=800)
    settle(anet_sandbox)
    run(anet_account)
    d = Discrepancy.objects.get()
    discrepancy_resolve(discrepancy=d, resolution="write_off", user=approver)

    with pytest.raises(ResolutionNotAllowed, match="other than"):
        discrepancy_approve_write_off(discrepancy=d, approver=approver)
    discrepancy_reject_write_off(discrepancy=d, approver=StaffUserFactory(roles=["Finance approver"]), note="chase it")

    d.refresh_from_db()
    assert (d.status, d.resolution) == ("open", "")
    assert not JournalEntry.objects.filter(kind=EntryKind.WRITE_OFF).exists()


def test_a_refused_self_approval_of_a_write_off_is_audited_and_changes_nothing(
    api, anet_account, anet_sandbox, approver
):
    short = pay(api, 1000)
    inject(anet_sandbox, "amount", short, amount=800)
    settle(anet_sandbox)
    run(anet_account)
    d = discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="write_off", user=approver)
    before = (model_to_dict(Discrepancy.objects.get()), JournalEntry.objects.count(), receivable(anet_account))
    last_event = AuditEvent.objects.latest("id").pk

    with pytest.raises(ResolutionNotAllowed, match="other than"):
        discrepancy_approve_write_off(discrepancy=d, approver=approver, note="mine")

    assert (model_to_dict(Discrepancy.objects.get()), JournalEntry.objects.count(), receivable(anet_account)) == before
    (event,) = AuditEvent.objects.filter(pk__gt=last_event)  # committed, though the approval rolled back
    assert (event.action, event.target_id, event.actor_id, event.merchant_id) == (
        "discrepancy.writeoff_approval_refused", d.public_id, str(approver.pk), anet_account.merchant_id,
    )  # fmt: skip
    assert event.after == {
        "reason": "A write-off needs an approver other than the person who asked for it.",
        "amount": 200,
        "currency": "USD",
        "note": "mine",
    }


def test_an_amount_mismatch_corrected_on_our_side(api, anet_account, anet_sandbox, operator):
    short = pay(api, 1000)
    inject(anet_sandbox, "amount", short, amount=900)
    settle(anet_sandbox)
    run(anet_account)

    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="adjust_ours", user=operator)

    short.refresh_from_db()
    assert (short.amount_captured, short.status) == (900, "captured")
    assert receivable(anet_account) == 0


def test_an_amount_mismatch_corrected_upwards_is_not_missing_at_the_gateway_afterwards(
    api, anet_account, anet_sandbox, operator
):
    """Captured 900 of 1,000 authorised, settled 1,000: "adjust ours" posts a capture of the 100.
    Before, the next run reported that entry missing at the gateway (it has no line of its own),
    and adjusting that undid the correction."""
    payment = Payment.objects.get(public_id=purchase(api, 1000, capture=False).json()["id"])
    captured = api.post(f"/api/v1/payments/{payment.public_id}/capture", {"amount": 900}, format="json")
    assert captured.status_code == 200, captured.content
    inject(anet_sandbox, "amount", payment, amount=1000)
    settle(anet_sandbox)
    assert run(anet_account).opened == {"amount_mismatch": 1}
    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="adjust_ours", user=operator)
    payment.refresh_from_db()
    assert payment.amount_captured == 1000

    pay(api, 300)
    settle(anet_sandbox)  # a later settlement: the adjusting entry is well before its cutoff

    assert run(anet_account).opened == {}
    assert receivable(anet_account) == 0


def test_an_unknown_transaction_becomes_a_payment_from_the_gateway_record(api, anet_account, anet_sandbox, operator):
    pay(api, 500)
    stranger = inject(anet_sandbox, "unknown", amount=4200)
    settle(anet_sandbox)

    assert run(anet_account).opened == {"missing_on_our_side": 1}
    d = Discrepancy.objects.get()
    assert (d.gateway_transaction_id, d.gateway_amount, d.our_amount) == (stranger.trans_id, 4200, None)
    assert receivable(anet_account) == -4200  # settled money our books do not hold
    entries = JournalEntry.objects.count()
    with pytest.raises(ReconciliationError):
        discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)
    assert (Discrepancy.objects.get().status, JournalEntry.objects.count()) == ("open", entries)

    discrepancy_resolve(discrepancy=d, resolution="create_payment", user=operator)

    created = Payment.objects.get(gateway_transaction_id=stranger.trans_id)
    assert (created.status, created.amount_captured, created.card_last4) == ("captured", 4200, "1111")
    line = SettlementLine.objects.get(gateway_transaction_id=stranger.trans_id)
    assert (line.match_status, line.entry.payment_id) == (MatchStatus.MATCHED, created.pk)
    assert receivable(anet_account) == 0


def test_a_payment_created_from_a_partial_capture_holds_what_settled(api, anet_account, anet_sandbox, operator):
    """Authorised 4200, captured (and settled) 4000: the payment recorded captured 4200 before,
    and the line was called matched regardless, leaving 200 in the receivable unexplained."""
    stranger = inject(anet_sandbox, "unknown", amount=4200)
    AnetTransaction.objects.filter(pk=stranger.pk).update(settle_amount=4000)
    settle(anet_sandbox)
    run(anet_account)

    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="create_payment", user=operator)

    created = Payment.objects.get(gateway_transaction_id=stranger.trans_id)
    assert (created.amount_authorized, created.amount_captured, created.status) == (4200, 4000, "captured")
    assert SettlementLine.objects.get(gateway_transaction_id=stranger.trans_id).match_status == MatchStatus.MATCHED
    assert receivable(anet_account) == 0
    assert run(anet_account).opened == {}


def test_creating_the_payment_while_the_gateway_cannot_be_asked_changes_nothing(
    api, anet_account, anet_sandbox, operator, sandbox_fault
):
    """Before: the gateway's error went up to the admin page as a 500."""
    stranger = inject(anet_sandbox, "unknown", amount=4200)
    settle(anet_sandbox)
    run(anet_account)
    d = Discrepancy.objects.get()
    sandbox_fault("http_error", value=503, match="getTransactionDetailsRequest")

    with pytest.raises(ReconciliationError, match="could not be asked"):
        discrepancy_resolve(discrepancy=d, resolution="create_payment", user=operator)

    assert Discrepancy.objects.get().status == "open"
    assert not Payment.objects.filter(gateway_transaction_id=stranger.trans_id).exists()
    discrepancy_resolve(discrepancy=d, resolution="create_payment", user=operator)  # once it answers again
    assert Payment.objects.get(gateway_transaction_id=stranger.trans_id).amount_captured == 4200


def test_a_refund_settled_that_we_think_failed(api, anet_account, anet_sandbox, operator):
    payment = pay(api, 1000)
    settle(anet_sandbox)
    run(anet_account)
    inject(anet_sandbox, "refund_we_think_failed")
    declined = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 300}, format="json")
    assert declined.status_code == 409  # "payment_not_settled": what reason 54 means to us
    refund = Refund.objects.get()
    assert refund.status == "failed"
    settle(anet_sandbox)

    assert run(anet_account).opened == {"status_mismatch": 1}
    d = Discrepancy.objects.get()
    assert (d.refund_id, d.payment_id, d.gateway_amount) == (refund.pk, payment.pk, 300)
    assert receivable(anet_account) == 300

    discrepancy_resolve(discrepancy=d, resolution="adjust_ours", user=operator)

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, payment.amount_refunded, payment.status) == ("succeeded", 300, "partially_refunded")
    assert receivable(anet_account) == 0
    pay(api, 500)
    settle(anet_sandbox)
    assert run(anet_account).opened == {}  # the refund entry is settled by that line, not missing


def test_a_duplicate_line_accepted_books_the_extra_money(api, anet_account, anet_sandbox, operator):
    payment = pay(api, 1000)
    settle(anet_sandbox)
    run(anet_account)
    line = SettlementLine.objects.get()
    twice = SettlementBatchData(
        batch_id="dup-1",
        settled_at=datetime.now(UTC),
        currency="USD",
        lines=[
            SettlementLineData(
                line.gateway_transaction_id, SettlementLineKind.CHARGE, "settledSuccessfully", 1000, "USD"
            )
        ],
    )
    settlement_batch_store(account=anet_account, data=twice, source="csv", actor=SYSTEM)

    assert run(anet_account, fetch=False).opened == {"duplicate": 1}
    d = Discrepancy.objects.get()
    assert (d.payment_id, d.kind) == (payment.pk, "duplicate")
    assert receivable(anet_account) == -1000

    discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator)

    assert receivable(anet_account) == 0
    assert balance(anet_account, AccountKind.ADJUSTMENTS) == -1000  # money received we must return


def test_a_currency_mismatch_accepted_clears_both_currencies(api, anet_account, anet_sandbox, operator):
    payment = pay(api, 1000)
    other = SettlementBatchData(
        batch_id="eur-1",
        settled_at=datetime.now(UTC),
        currency="EUR",
        lines=[
            SettlementLineData(
                payment.gateway_transaction_id, SettlementLineKind.CHARGE, "settledSuccessfully", 920, "EUR"
            )
        ],
    )
    settlement_batch_store(account=anet_account, data=other, source="csv", actor=SYSTEM)

    assert run(anet_account, fetch=False).opened == {"currency_mismatch": 1}

    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="accept_gateway", user=operator)

    assert receivable(anet_account) == 0
    assert account_balance(gateway_account_id=anet_account.pk, kind=AccountKind.RECEIVABLE, currency="EUR") == 0


def test_a_payment_of_unknown_outcome_is_settled_by_asking_the_gateway(api, anet_account, anet_sandbox, sandbox_fault):
    sandbox_fault("drop_response", match="authCaptureTransaction")
    response = purchase(api, 2500)
    assert response.json()["status"] == "unknown"
    settle(anet_sandbox)

    report = run(anet_account)

    payment = Payment.objects.get(public_id=response.json()["id"])
    assert (payment.status, payment.amount_captured) == ("captured", 2500)
    assert (report.synced, report.matched, report.opened) == ([payment.public_id], 1, {})
    assert receivable(anet_account) == 0


def test_resolving_needs_the_permission(api, anet_account, anet_sandbox):
    inject(anet_sandbox, "unknown", amount=100)
    settle(anet_sandbox)
    run(anet_account)
    viewer = StaffUserFactory(roles=["Finance viewer"])
    entries = JournalEntry.objects.count()

    with pytest.raises(ResolutionNotAllowed):
        discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="accept_gateway", user=viewer)
    assert (Discrepancy.objects.get().status, JournalEntry.objects.count()) == ("open", entries)


def test_adopting_a_refund_releases_the_amount_it_held(api, anet_account, anet_sandbox, settings):
    from apps.payments.services import refund_adopt_gateway_success

    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment = pay(api, 1000)
    settle(anet_sandbox)
    api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 800}, format="json")
    refund = Refund.objects.get()
    assert refund.status == "pending_approval"

    with transaction.atomic():
        refund_adopt_gateway_success(refund=refund, gateway_transaction_id="x1", actor=SYSTEM)

    payment.refresh_from_db()
    assert (payment.amount_refunded, payment.amount_refund_pending, payment.status) == (800, 0, "partially_refunded")


def test_a_refund_adopted_from_the_settlement_is_not_counted_again_when_its_call_resolves(
    api, anet_account, anet_sandbox, sandbox_fault
):
    from apps.payments.models import GatewayTransaction
    from apps.payments.services import gateway_transaction_resolve, refund_adopt_gateway_success

    payment = pay(api, 1000)
    settle(anet_sandbox)
    sandbox_fault("drop_response", match="refundTransaction")
    api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 400}, format="json")
    refund = Refund.objects.get()
    assert refund.status == "unknown"

    with transaction.atomic():  # the settlement showed it: staff adjust ours
        refund_adopt_gateway_success(refund=refund, gateway_transaction_id="x1", actor=SYSTEM)
    assert gateway_transaction_resolve(gateway_transaction_id=GatewayTransaction.objects.get(kind="refund").pk)

    payment.refresh_from_db()
    assert (payment.amount_refunded, payment.amount_refund_pending, payment.status) == (400, 0, "partially_refunded")
    assert JournalEntry.objects.filter(payment=payment, kind=EntryKind.REFUND).count() == 1
    assert (Refund.objects.get().status, GatewayTransaction.objects.get(kind="refund").status) == (
        "succeeded",
        "succeeded",
    )
    assert AuditEvent.objects.filter(action="refund.succeeded").count() == 1


def test_adopting_a_refund_of_a_returned_debit_leaves_it_returned(merchant, settings):
    from apps.payments.services import refund_adopt_gateway_success, refund_create
    from tests.factories import PaymentFactory

    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 100}  # it waits for approval: no gateway call here
    payment = PaymentFactory(merchant=merchant, amount=1000, captured=True)
    refund = refund_create(payment=payment, amount=400, reason="x", actor=SYSTEM)
    Payment.objects.filter(pk=payment.pk).update(status="returned")  # the bank took the debit back meanwhile

    with transaction.atomic():
        refund_adopt_gateway_success(refund=refund, gateway_transaction_id="x1", actor=SYSTEM)

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("returned", 400)
