"""A write-off approval racing the run that finds the money settled late, with real threads on
PostgreSQL: the run closes the pending write-off under the discrepancy's row lock; the approval,
waiting on that lock, finds it settled late and is refused (409). Nothing is written off."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from apps.ledger.models import EntryKind, JournalEntry
from apps.reconciliation import matching
from apps.reconciliation.discrepancies import discrepancy_approve_write_off, discrepancy_resolve
from apps.reconciliation.errors import DiscrepancyStateError
from apps.reconciliation.models import Discrepancy
from apps.reconciliation.services import _locked, reconcile, settlement_import
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.helpers import in_a_thread, wait_for_a_lock_wait
from tests.payments.helpers import settle
from tests.reconciliation.test_write_off_settled_late import SYSTEM, balance, pay

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_approval_waiting_on_the_run_that_settles_it_late_is_refused(api, anet_account, anet_sandbox):
    late = pay(api, 1500)
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="missing", trans_id=late.gateway_transaction_id, amount=None, actor=SYSTEM
    )
    pay(api, 100)
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    d = Discrepancy.objects.get(kind="missing_at_gateway")
    discrepancy_resolve(discrepancy=d, resolution="write_off", user=StaffUserFactory(roles=["Finance operator"]))
    approver = StaffUserFactory(roles=["Finance approver"])
    AnetTransaction.objects.filter(account=anet_sandbox).update(held_from_settlement=False)
    settle(anet_sandbox)
    settlement_import(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    outcome: list[object] = []

    def approve() -> None:
        try:
            discrepancy_approve_write_off(discrepancy=d, approver=approver)
            outcome.append("approved")
        except DiscrepancyStateError as refused:
            outcome.append(refused)

    with transaction.atomic():  # the run's matching transaction, as reconcile holds it
        _locked(anet_account)
        matching.link_lines(anet_account)
        matching.classify(anet_account, actor=SYSTEM)
        thread = in_a_thread(approve)
        wait_for_a_lock_wait("the approval")
    thread.join(timeout=20)

    assert len(outcome) == 1 and isinstance(outcome[0], DiscrepancyStateError), outcome
    d.refresh_from_db()
    assert (d.status, d.resolution, d.approved_by) == ("resolved", "settled_late", None)
    assert not JournalEntry.objects.filter(kind=EntryKind.WRITE_OFF).exists()
    assert balance(anet_account) == 0
