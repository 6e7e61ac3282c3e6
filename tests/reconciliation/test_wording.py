"""Each discrepancy in finance's words: one sentence per kind, gateway status codes translated,
the difference and the receivable related, and what each resolution posts. The wording reads
unsaved rows only (no database): it is pure."""

from __future__ import annotations

import pytest

from apps.ledger.models import EntryKind, JournalEntry
from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.reconciliation.models import Discrepancy, DiscrepancyKind, LineKind, Resolution, SettlementLine
from apps.reconciliation.wording import (
    difference_sentence,
    discrepancy_sentence,
    gateway_status_words,
    receivable_sentence,
    resolution_sentence,
)

TXN = "60012345678"


def line(kind: str = LineKind.CHARGE, amount: int = 4000, status: str = "settledSuccessfully") -> SettlementLine:
    return SettlementLine(
        pk=7, kind=kind, amount=amount, currency="USD", gateway_status=status, gateway_transaction_id=TXN
    )


def discrepancy(kind: str, **fields) -> Discrepancy:
    return Discrepancy(kind=kind, currency="USD", gateway_transaction_id=TXN, **fields)


def short_paid() -> Discrepancy:
    return discrepancy(DiscrepancyKind.AMOUNT_MISMATCH, our_amount=4500, gateway_amount=4000, line=line())


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("settledSuccessfully", "settled"),
        ("refundSettledSuccessfully", "refund settled"),
        ("voided", "voided"),
        ("declined", "declined"),
        ("returnedItem", "returned by the bank"),
        ("chargeback", "chargeback"),
        ("payment", "settled"),  # Razorpay's settlement item, Stripe's balance transaction
        ("refund", "refund settled"),
        ("payment_refund", "refund settled"),
        ("charge", "settled"),
        ("dispute", "dispute"),
        ("SETTLEDSUCCESSFULLY", "settled"),  # a CSV may shout
    ],
)
def test_known_gateway_statuses_are_words(code, words):
    assert gateway_status_words(code) == words


def test_an_unknown_gateway_status_is_quoted_as_the_gateways():
    assert gateway_status_words("weirdState") == "gateway status “weirdState”"
    assert gateway_status_words("") == "no status given"


@pytest.mark.parametrize(
    ("d", "sentence"),
    [
        (
            short_paid(),
            "The gateway settled 40.00 USD for a payment we captured at 45.00 USD (5.00 USD less).",
        ),
        (
            discrepancy(
                DiscrepancyKind.AMOUNT_MISMATCH,
                our_amount=1000,
                gateway_amount=1200,
                line=line(LineKind.REFUND, 1200, "refundSettledSuccessfully"),
            ),
            "The gateway refunded 12.00 USD where we recorded a refund of 10.00 USD (2.00 USD more).",
        ),
        (
            discrepancy(DiscrepancyKind.MISSING_ON_OUR_SIDE, gateway_amount=4500, line=line(amount=4500)),
            f"The gateway settled 45.00 USD for transaction {TXN} that we have no record of.",
        ),
        (
            discrepancy(
                DiscrepancyKind.MISSING_AT_GATEWAY,
                our_amount=4500,
                entry=JournalEntry(pk=3, kind=EntryKind.CAPTURE, currency="USD", amount=4500),
            ),
            f"We captured 45.00 USD (transaction {TXN}), but no gateway settlement includes it so far.",
        ),
        (
            discrepancy(
                DiscrepancyKind.MISSING_AT_GATEWAY,
                our_amount=1500,
                refund=Refund(pk=4, amount=1500, currency="USD", status=RefundStatus.SUCCEEDED),
            ),
            f"We refunded 15.00 USD (transaction {TXN}), but no gateway settlement includes it so far.",
        ),
        (
            discrepancy(
                DiscrepancyKind.STATUS_MISMATCH,
                gateway_amount=4500,
                line=line(amount=4500),
                payment=Payment(pk=5, status=PaymentStatus.VOIDED, amount=4500, currency="USD"),
            ),
            "We show this payment as voided, but the gateway settled it (45.00 USD).",
        ),
        (
            discrepancy(
                DiscrepancyKind.STATUS_MISMATCH,
                gateway_amount=1500,
                line=line(LineKind.REFUND, 1500, "refundSettledSuccessfully"),
                payment=Payment(pk=5, status=PaymentStatus.CAPTURED, amount=4500, currency="USD"),
                refund=Refund(pk=4, amount=1500, currency="USD", status=RefundStatus.FAILED),
            ),
            "We show this refund as failed, but the gateway refunded it (15.00 USD).",
        ),
        (
            discrepancy(
                DiscrepancyKind.STATUS_MISMATCH,
                gateway_amount=4500,
                line=line(LineKind.ADJUSTMENT, 4500, "returnedItem"),
                detail="returnedItem",
            ),
            f"The gateway's settlement lists 45.00 USD for transaction {TXN} (returned by the bank), neither a "
            "charge nor a refund: its settled total does not count it, and nothing on our side matches it.",
        ),
        (
            discrepancy(
                DiscrepancyKind.CURRENCY_MISMATCH,
                our_amount=4500,
                gateway_amount=3000,
                line=line(amount=3000),
                entry=JournalEntry(pk=3, kind=EntryKind.CAPTURE, currency="JPY", amount=4500),
            ),
            "The gateway settled 30.00 USD for a payment we captured at 4,500 JPY: the currencies differ.",
        ),
        (
            discrepancy(DiscrepancyKind.DUPLICATE, our_amount=4500, gateway_amount=4500, line=line(amount=4500)),
            f"The gateway settled transaction {TXN} a second time (45.00 USD); our payment of 45.00 USD was "
            "already settled once.",
        ),
    ],
    ids=lambda value: value.kind if isinstance(value, Discrepancy) else "",
)
def test_each_kind_reads_as_one_sentence_without_gateway_codes(d, sentence):
    said = discrepancy_sentence(d)

    assert said == sentence
    assert "settledSuccessfully" not in said and "_" not in said


def test_a_payment_missing_at_the_gateway_says_up_to_when():
    d = discrepancy(
        DiscrepancyKind.MISSING_AT_GATEWAY, our_amount=4500, detail="not in any settlement up to 2026-05-01 12:00 UTC"
    )

    assert discrepancy_sentence(d) == (
        f"We captured 45.00 USD (transaction {TXN}), but it is not in any settlement up to 2026-05-01 12:00 UTC."
    )


def test_every_kind_has_its_own_sentence():
    for kind in DiscrepancyKind:
        said = discrepancy_sentence(discrepancy(kind, our_amount=4500, gateway_amount=4000, line=line()))
        assert said.endswith(".") and kind.label not in said


def test_the_difference_and_the_receivable_say_how_they_relate():
    d = short_paid()

    assert difference_sentence(d) == "The gateway settled 5.00 USD less than we captured."
    assert receivable_sentence(d) == (
        "That difference, 5.00 USD, is still in the gateway receivable: the gateway owes it to us."
    )


def test_nothing_to_compare_across_two_currencies():
    d = discrepancy(
        DiscrepancyKind.CURRENCY_MISMATCH,
        our_amount=4500,
        gateway_amount=3000,
        line=line(amount=3000),
        entry=JournalEntry(pk=3, kind=EntryKind.CAPTURE, currency="JPY", amount=4500),
    )

    assert difference_sentence(d) == ""
    assert "4,500 JPY" in receivable_sentence(d) and "30.00 USD" in receivable_sentence(d)
    assert resolution_sentence(d, Resolution.ACCEPT_GATEWAY) == (
        "Accept the gateway's view: in our currency, debits Reconciliation adjustments 4,500 JPY, credits Gateway "
        "receivable 4,500 JPY; in the gateway's, debits Gateway receivable 30.00 USD, credits Reconciliation "
        "adjustments 30.00 USD; the gateway receivable then holds nothing for this payment in either currency."
    )


def test_each_resolution_says_what_it_posts_and_what_it_leaves():
    d = short_paid()

    assert resolution_sentence(d, Resolution.WRITE_OFF) == (
        "Write off 5.00 USD: debits Write-offs 5.00 USD, credits Gateway receivable 5.00 USD; the gateway "
        "receivable then holds 0.00 USD for this payment. Needs a second approver: nothing posts until another "
        "person approves it."
    )
    assert resolution_sentence(d, Resolution.ACCEPT_GATEWAY) == (
        "Accept the gateway's view: debits Reconciliation adjustments 5.00 USD, credits Gateway receivable "
        "5.00 USD; the gateway receivable then holds 0.00 USD for this payment."
    )
    assert resolution_sentence(d, Resolution.ADJUST_OURS) == (
        "Adjust our record: the payment's captured amount is lowered by 5.00 USD to what the gateway settled; "
        "a capture reversal debits Sales 5.00 USD, credits Gateway receivable 5.00 USD; the gateway receivable "
        "then holds 0.00 USD for this payment."
    )


def test_money_the_gateway_paid_beyond_our_books_is_booked_the_other_way():
    d = discrepancy(DiscrepancyKind.MISSING_ON_OUR_SIDE, gateway_amount=4500, line=line(amount=4500))

    assert receivable_sentence(d).startswith("The gateway receivable is 45.00 USD below zero for it")
    assert resolution_sentence(d, Resolution.ACCEPT_GATEWAY) == (
        "Accept the gateway's view: debits Gateway receivable 45.00 USD, credits Reconciliation adjustments "
        "45.00 USD; the gateway receivable then holds 0.00 USD for this payment."
    )
    assert resolution_sentence(d, Resolution.CREATE_PAYMENT).startswith(
        f"Create the missing payment: asks the gateway for its record of transaction {TXN} and records it as a "
        "captured payment; the capture debits Gateway receivable 45.00 USD, credits Sales 45.00 USD"
    )


def test_adjusting_a_status_mismatch_records_what_the_gateway_settled():
    voided = discrepancy(
        DiscrepancyKind.STATUS_MISMATCH,
        gateway_amount=4500,
        line=line(amount=4500),
        payment=Payment(pk=5, status=PaymentStatus.VOIDED, amount=4500, amount_captured=0, currency="USD"),
    )
    failed_refund = discrepancy(
        DiscrepancyKind.STATUS_MISMATCH,
        gateway_amount=1500,
        line=line(LineKind.REFUND, 1500, "refundSettledSuccessfully"),
        refund=Refund(pk=4, amount=1500, currency="USD", status=RefundStatus.FAILED),
    )

    assert resolution_sentence(voided, Resolution.ADJUST_OURS) == (
        "Adjust our record: the payment becomes captured at 45.00 USD; the capture debits Gateway receivable "
        "45.00 USD, credits Sales 45.00 USD; the gateway receivable then holds 0.00 USD for this payment."
    )
    assert resolution_sentence(failed_refund, Resolution.ADJUST_OURS) == (
        "Adjust our record: the refund becomes succeeded; the refund debits Refunds 15.00 USD, credits Gateway "
        "receivable 15.00 USD; the gateway receivable then holds 0.00 USD for this refund."
    )


def test_adjusting_a_payment_the_gateway_never_settled_reverses_its_capture():
    d = discrepancy(
        DiscrepancyKind.MISSING_AT_GATEWAY,
        our_amount=4500,
        payment=Payment(pk=5, status=PaymentStatus.CAPTURED, amount=4500, amount_captured=4500, currency="USD"),
        entry=JournalEntry(pk=3, kind=EntryKind.CAPTURE, currency="USD", amount=4500),
    )

    assert resolution_sentence(d, Resolution.ADJUST_OURS) == (
        "Adjust our record: the payment becomes failed (never settled); a capture reversal debits Sales 45.00 USD, "
        "credits Gateway receivable 45.00 USD; the gateway receivable then holds 0.00 USD for this payment."
    )
