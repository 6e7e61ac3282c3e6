"""A missing-at-gateway whose amount was already booked away (the gateway's view accepted, or a
write-off approved) and that the gateway then settles after all: the booking is reversed, since
the money arrived (through the Authorize.Net SDK and sandbox)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.ledger.models import AccountKind
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment
from apps.reconciliation.discrepancies import discrepancy_approve_write_off, discrepancy_resolve
from apps.reconciliation.models import Discrepancy
from apps.reconciliation.services import reconcile
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle

SYSTEM = Actor.system("tests")


def balance(account, kind=AccountKind.RECEIVABLE) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="USD")


def run(account):
    return reconcile(account=account, day=timezone.now().date(), actor=SYSTEM)


@pytest.fixture
def missing(api, anet_account, anet_sandbox):
    """A 1500 charge the gateway left out of its settlement."""
    response = purchase(api, 1500)
    late = Payment.objects.get(public_id=response.json()["id"])
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="missing", trans_id=late.gateway_transaction_id, amount=None, actor=SYSTEM
    )
    purchase(api, 100)
    settle(anet_sandbox)
    run(anet_account)
    return Discrepancy.objects.get(kind="missing_at_gateway")


def settles_late(anet_account, anet_sandbox):
    AnetTransaction.objects.filter(account=anet_sandbox).update(held_from_settlement=False)
    settle(anet_sandbox)
    return run(anet_account)


@pytest.mark.parametrize("booked_to", ["accept_gateway", "write_off"])
def test_a_booked_away_missing_charge_that_settles_late_is_reversed(anet_account, anet_sandbox, missing, booked_to):
    """Before: the line matched the capture and the booking stayed: the receivable at -1500 and
    1500 in adjustments (or write-offs) for money that had arrived."""
    operator = StaffUserFactory(roles=["Finance operator"])
    discrepancy_resolve(discrepancy=missing, resolution=booked_to, user=operator)
    if booked_to == "write_off":
        discrepancy_approve_write_off(discrepancy=missing, approver=StaffUserFactory(roles=["Finance approver"]))
    account_kind = AccountKind.ADJUSTMENTS if booked_to == "accept_gateway" else AccountKind.WRITE_OFFS
    missing.refresh_from_db()
    booked = missing.resolution_entry
    assert (balance(anet_account), balance(anet_account, account_kind)) == (0, 1500)

    report = settles_late(anet_account, anet_sandbox)

    assert (report.settled_late, report.opened) == (1, {})
    assert (balance(anet_account), balance(anet_account, account_kind)) == (0, 0)
    missing.refresh_from_db()
    assert (missing.status, missing.resolution, missing.resolution_amount) == ("resolved", "settled_late", None)
    assert missing.resolution_entry.postings.get(account__kind=AccountKind.RECEIVABLE).amount == 1500
    event = AuditEvent.objects.filter(action="discrepancy.resolved", target_id=missing.public_id).latest("pk")
    assert event.before == {"status": "resolved", "resolution": booked_to, "amount": 1500, "entry": booked.public_id}
    assert event.after == {"resolution": "settled_late", "entry": missing.resolution_entry.public_id}
    assert run(anet_account).settled_late == 0  # reversed once
    assert balance(anet_account) == 0
