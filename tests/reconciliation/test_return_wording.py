"""A returned bank debit (an ACH return) is worded as a return, on the discrepancy's sentence, its
difference and what each resolution leaves, and on the admin's pages. Before, every line that was
not a refund read as "a payment we captured" and "this payment", a return among them; a refund
already read as a refund and still does."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.ledger.models import EntryKind, JournalEntry
from apps.reconciliation.models import Discrepancy, DiscrepancyKind, LineKind, Resolution, SettlementLine
from apps.reconciliation.services import reconcile, settlement_batch_store
from apps.reconciliation.wording import difference_sentence, discrepancy_sentence, resolution_sentence
from tests.reconciliation.test_admin_wording import QUEUE, fields_of, text_of
from tests.reconciliation.test_returned_debit_discrepancies import a_return_line
from tests.reports.helpers import SYSTEM, returned_by_the_bank, settled_bank_debit

TXN = "60012345678"


def line(kind: str, amount: int, currency: str = "USD") -> SettlementLine:
    return SettlementLine(
        pk=7, kind=kind, amount=amount, currency=currency, gateway_status="returnedItem", gateway_transaction_id=TXN
    )


def discrepancy(kind: str, line_kind: str = LineKind.RETURN, **fields) -> Discrepancy:
    theirs = fields.pop("gateway_amount", 4000)
    return Discrepancy(
        kind=kind,
        currency="USD",
        gateway_transaction_id=TXN,
        gateway_amount=theirs,
        line=line(line_kind, theirs, fields.pop("line_currency", "USD")),
        **fields,
    )


@pytest.mark.parametrize(
    ("d", "sentence"),
    [
        (
            discrepancy(DiscrepancyKind.AMOUNT_MISMATCH, our_amount=5000),
            "The gateway took back 40.00 USD for a returned bank debit we recorded at 50.00 USD (10.00 USD less).",
        ),
        (
            discrepancy(
                DiscrepancyKind.CURRENCY_MISMATCH,
                our_amount=5000,
                entry=JournalEntry(pk=3, kind=EntryKind.RETURN, currency="JPY", amount=5000),
            ),
            "The gateway took back 40.00 USD for a returned bank debit we recorded as 5,000 JPY: the currencies "
            "differ.",
        ),
        (
            discrepancy(DiscrepancyKind.MISSING_ON_OUR_SIDE, gateway_amount=700),
            f"The gateway took back 7.00 USD as a returned bank debit of transaction {TXN}, a debit we have no "
            "record of.",
        ),
        (
            discrepancy(DiscrepancyKind.DUPLICATE, our_amount=5000, gateway_amount=5000),
            f"The gateway took back 50.00 USD for the returned bank debit of transaction {TXN} a second time; our "
            "return of 50.00 USD was already taken out of a settlement once.",
        ),
    ],
    ids=lambda value: value.kind if isinstance(value, Discrepancy) else "",
)
def test_a_return_reads_as_a_return(d, sentence):
    said = discrepancy_sentence(d)

    assert said == sentence
    assert "payment" not in said and "captured" not in said


def test_the_difference_and_the_resolutions_of_a_return_name_the_return():
    d = discrepancy(DiscrepancyKind.AMOUNT_MISMATCH, our_amount=4000, gateway_amount=5000)

    assert difference_sentence(d) == "The gateway took back 10.00 USD more than we recorded for the return."
    assert resolution_sentence(d, Resolution.WRITE_OFF).startswith(
        "Write off 10.00 USD: debits Write-offs 10.00 USD, credits Gateway receivable 10.00 USD; the gateway "
        "receivable then holds 0.00 USD for this return."
    )
    assert resolution_sentence(d, Resolution.ACCEPT_GATEWAY) == (
        "Accept the gateway's view: debits Reconciliation adjustments 10.00 USD, credits Gateway receivable "
        "10.00 USD; the gateway receivable then holds 0.00 USD for this return."
    )


def test_a_refund_still_reads_as_a_refund_and_a_charge_as_a_payment():
    refund = discrepancy(DiscrepancyKind.DUPLICATE, LineKind.REFUND, our_amount=1500, gateway_amount=1500)
    charge = discrepancy(DiscrepancyKind.AMOUNT_MISMATCH, LineKind.CHARGE, our_amount=4500)

    assert discrepancy_sentence(refund) == (
        f"The gateway refunded transaction {TXN} a second time (15.00 USD); our refund of 15.00 USD was already "
        "settled once."
    )
    assert resolution_sentence(refund, Resolution.ACCEPT_GATEWAY).endswith("for this refund.")
    assert discrepancy_sentence(charge) == (
        "The gateway settled 40.00 USD for a payment we captured at 45.00 USD (5.00 USD less)."
    )
    assert difference_sentence(charge) == "The gateway settled 5.00 USD less than we captured."


@pytest.mark.django_db
def test_the_admin_shows_a_return_reported_twice_as_a_return(api, anet_account, anet_sandbox, staff_client):
    """A bank debit of 50.00 returned (R01) and the return listed again in a later batch."""
    payment = settled_bank_debit(api, anet_account, anet_sandbox, 5000)
    returned_by_the_bank(anet_account, anet_sandbox, payment, timezone.now().date())
    settlement_batch_store(
        account=anet_account, data=a_return_line("again-1", payment.gateway_transaction_id, 5000),
        source="csv", actor=SYSTEM,
    )  # fmt: skip
    reconcile(account=anet_account, day=None, actor=SYSTEM, fetch=False)
    d = Discrepancy.objects.get(kind=DiscrepancyKind.DUPLICATE)
    operator = staff_client(roles.FINANCE_OPERATOR)

    page = operator.get(f"{QUEUE}{d.pk}/change/")
    resolve = operator.get(f"{QUEUE}{d.pk}/resolve/")
    queue = operator.get(QUEUE)

    sentence = (
        f"The gateway took back 50.00 USD for the returned bank debit of transaction {payment.gateway_transaction_id}"
        " a second time; our return of 50.00 USD was already taken out of a settlement once."
    )
    assert fields_of(page.content)["What happened"] == sentence
    assert fields_of(page.content)["Settlement line"] == "Returned bank debit in batch again-1"
    for response in (page, resolve, queue):
        assert response.status_code == 200
        assert sentence in text_of(response.content)
    for response in (page, resolve):
        text = text_of(response.content)
        assert "the gateway receivable then holds 0.00 USD for this return." in text
        assert "for this payment" not in text and "a payment we captured" not in text
