"""A write-off asked for on money missing at the gateway that then settles late: the money
arrived, so nothing is written off (through the Authorize.Net SDK and sandbox)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment
from apps.reconciliation.discrepancies import discrepancy_approve_write_off, discrepancy_resolve
from apps.reconciliation.errors import DiscrepancyStateError
from apps.reconciliation.matching import link_lines
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementLine
from apps.reconciliation.services import reconcile, settlement_import
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle

SYSTEM = Actor.system("tests")


@pytest.fixture
def operator(db):
    return StaffUserFactory(roles=["Finance operator"])


@pytest.fixture
def approver(db):
    return StaffUserFactory(roles=["Finance approver"])


def pay(api, amount: int) -> Payment:
    response = purchase(api, amount)
    assert response.status_code == 201, response.json()
    return Payment.objects.get(public_id=response.json()["id"])


def balance(account, kind=AccountKind.RECEIVABLE) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="USD")


@pytest.fixture
def write_off_asked(api, anet_account, anet_sandbox, operator):
    """A 1500 charge the gateway left out of its settlement, written off by the operator
    (waiting for approval); then the gateway settles it after all."""
    late = pay(api, 1500)
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="missing", trans_id=late.gateway_transaction_id, amount=None, actor=SYSTEM
    )
    pay(api, 100)
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    d = Discrepancy.objects.get(kind="missing_at_gateway")
    discrepancy_resolve(discrepancy=d, resolution="write_off", user=operator, note="never paid")
    d.refresh_from_db()
    assert (d.status, d.resolution_amount, balance(anet_account)) == ("pending_approval", 1500, 1500)
    AnetTransaction.objects.filter(account=anet_sandbox).update(held_from_settlement=False)
    settle(anet_sandbox)
    return d


def test_a_pending_write_off_closes_as_settled_late(anet_account, write_off_asked, approver):
    """Before: only open discrepancies closed; the approval then posted a write-off for money
    that had arrived, leaving the receivable at -1500 and a 1500 loss."""
    d = write_off_asked

    report = reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)

    d.refresh_from_db()
    assert (report.settled_late, d.status, d.resolution, d.resolution_amount) == (1, "resolved", "settled_late", None)
    closed = AuditEvent.objects.get(action="discrepancy.resolved", target_id=d.public_id)
    assert closed.before == {"status": "pending_approval", "resolution": "write_off", "amount": 1500}
    assert closed.after == {"resolution": "settled_late"}
    with pytest.raises(DiscrepancyStateError):
        discrepancy_approve_write_off(discrepancy=d, approver=approver)
    assert not JournalEntry.objects.filter(kind=EntryKind.WRITE_OFF).exists()
    assert (balance(anet_account), balance(anet_account, AccountKind.WRITE_OFFS)) == (0, 0)


def test_an_approval_after_the_line_matched_is_refused(anet_account, write_off_asked, approver):
    """The line is imported and matched (by transaction id, as a run does before classifying)
    while the write-off still waits: the approval under the lock refuses it (409)."""
    d = write_off_asked
    settlement_import(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    link_lines(anet_account)
    assert SettlementLine.objects.filter(entry_id=d.entry_id, match_status=MatchStatus.MATCHED).exists()

    with pytest.raises(DiscrepancyStateError) as refused:
        discrepancy_approve_write_off(discrepancy=d, approver=approver)

    assert refused.value.status_code == 409
    d.refresh_from_db()
    assert (d.status, d.approved_by) == ("pending_approval", None)
    assert not JournalEntry.objects.filter(kind=EntryKind.WRITE_OFF).exists()
    assert balance(anet_account) == 0
    reconcile(account=anet_account, day=None, actor=SYSTEM, fetch=False)
    d.refresh_from_db()
    assert (d.status, d.resolution) == ("resolved", "settled_late")
    assert balance(anet_account) == 0
