"""Discrepancies on returned bank debits (ACH returns): a return line takes money back out of a
settlement as a refund line does, so what it leaves in the receivable turns sign like a refund's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.reconciliation.discrepancies import discrepancy_residual, discrepancy_resolve
from apps.reconciliation.models import (
    Discrepancy,
    DiscrepancyKind,
    LineKind,
    SettlementBatch,
    SettlementLine,
)
from apps.reconciliation.services import reconcile, settlement_batch_store
from apps.reconciliation.wording import resolution_sentence
from tests.accounts.factories import StaffUserFactory
from tests.reports.helpers import SYSTEM, returned_by_the_bank, settled_bank_debit


@pytest.fixture
def operator(db):
    return StaffUserFactory(roles=["Finance operator"])


def receivable(account) -> int:
    return account_balance(gateway_account_id=account.pk, kind=AccountKind.RECEIVABLE, currency="USD")


def a_return_line(batch_id: str, transaction_id: str, amount: int) -> SettlementBatchData:
    return SettlementBatchData(
        batch_id=batch_id,
        settled_at=datetime.now(UTC),
        currency="USD",
        lines=[
            SettlementLineData(
                transaction_id, SettlementLineKind.RETURN, "returnedItem", amount, "USD", return_code="R01"
            )
        ],
    )


def test_a_return_reported_twice_accepted_books_the_money_taken_twice(api, anet_account, anet_sandbox, operator):
    """Before: the residual was -5000, so accepting the gateway's view doubled the receivable's
    error to 10000 instead of clearing it."""
    payment = settled_bank_debit(api, anet_account, anet_sandbox, 5000)
    returned_by_the_bank(anet_account, anet_sandbox, payment, timezone.now().date())
    assert receivable(anet_account) == 0
    settlement_batch_store(
        account=anet_account, data=a_return_line("again-1", payment.gateway_transaction_id, 5000),
        source="csv", actor=SYSTEM,
    )  # fmt: skip
    assert JournalEntry.objects.filter(kind=EntryKind.RETURN).count() == 1  # the payment is reversed once

    assert reconcile(account=anet_account, day=None, actor=SYSTEM, fetch=False).opened == {"duplicate": 1}
    d = Discrepancy.objects.get(kind="duplicate")
    assert receivable(anet_account) == 5000  # the gateway took it out of a payout twice
    assert discrepancy_residual(d) == 5000

    discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator)

    assert receivable(anet_account) == 0
    assert account_balance(gateway_account_id=anet_account.pk, kind=AccountKind.ADJUSTMENTS, currency="USD") == 5000


def test_a_return_of_a_debit_we_never_had_accepted_clears_the_receivable(anet_account, operator):
    """Before: the residual was 0 ("nothing to book") though the batch took 700 off the payout,
    leaving the receivable 700 overstated."""
    settlement_batch_store(account=anet_account, data=a_return_line("r-1", "60999", 700), source="csv", actor=SYSTEM)
    assert reconcile(account=anet_account, day=None, actor=SYSTEM, fetch=False).opened == {"missing_on_our_side": 1}
    d = Discrepancy.objects.get()
    assert (receivable(anet_account), discrepancy_residual(d)) == (700, 700)

    discrepancy_resolve(discrepancy=d, resolution="accept_gateway", user=operator)

    assert receivable(anet_account) == 0


@pytest.mark.parametrize(
    ("kind", "ours", "theirs", "residual"),
    [
        (DiscrepancyKind.AMOUNT_MISMATCH, 5000, 4000, -1000),  # the bank took back 1000 less than we reversed
        (DiscrepancyKind.AMOUNT_MISMATCH, 4000, 5000, 1000),
        (DiscrepancyKind.DUPLICATE, 5000, 5000, 5000),
        (DiscrepancyKind.MISSING_ON_OUR_SIDE, None, 700, 700),
        (DiscrepancyKind.STATUS_MISMATCH, None, 700, 700),
    ],
)
def test_a_return_line_turns_the_sign_as_a_refund_line_does(kind, ours, theirs, residual):
    for line_kind, sign in ((LineKind.RETURN, 1), (LineKind.REFUND, 1), (LineKind.CHARGE, -1)):
        d = Discrepancy(kind=kind, our_amount=ours, gateway_amount=theirs, line=SettlementLine(kind=line_kind))
        assert discrepancy_residual(d) == sign * residual, line_kind


def test_a_currency_mismatch_on_a_return_is_worded_as_it_posts():
    line = SettlementLine(kind=LineKind.RETURN, amount=920, currency="EUR")
    d = Discrepancy(
        kind=DiscrepancyKind.CURRENCY_MISMATCH, line=line, currency="EUR", gateway_amount=920, our_amount=1000
    )
    d.entry = JournalEntry(kind=EntryKind.RETURN, amount=1000, currency="USD")
    sentence = resolution_sentence(d, "accept_gateway")
    # _accept_currency takes a return's 1000 USD back into the receivable (debit) and the 920 EUR out.
    assert "in our currency, debits Gateway receivable 10.00" in sentence, sentence


def test_a_batch_net_is_less_its_returns():
    batch = SettlementBatch(charges_amount=10000, refunds_amount=1000, returns_amount=2500)
    assert batch.net_amount == 6500
