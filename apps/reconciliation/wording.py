"""Discrepancies in finance's words: what happened, what a gateway's status code means, how the
amounts relate, and what each resolution posts (as discrepancies.py posts it).

Pure: it reads a discrepancy and the rows selected with it (line, entry, payment, refund; select
them with the discrepancy, or each is one query), queries nothing else and changes nothing.
"""

from __future__ import annotations

from apps.core.money import format_amount
from apps.ledger.models import AccountKind, EntryKind

from .discrepancies import discrepancy_residual
from .models import MONEY_BACK_LINES, Discrepancy, DiscrepancyKind, LineKind, Resolution

# The gateways' own words for a settled transaction (Authorize.Net's transactionStatus, Razorpay's
# settlement item type, Stripe's balance transaction type, and what settlement CSVs commonly say),
# keyed in lower case: a CSV may spell them either way.
_STATUS_WORDS = {
    # Authorize.Net
    "settledsuccessfully": "settled",
    "refundsettledsuccessfully": "refund settled",
    "voided": "voided",
    "declined": "declined",
    "expired": "expired",
    "generalerror": "failed at the gateway",
    "settlementerror": "failed in settlement",
    "communicationerror": "failed (the card network did not answer)",
    "couldnotvoid": "could not be voided",
    "returneditem": "returned by the bank",
    "chargeback": "chargeback",
    "chargebackreversal": "chargeback reversed",
    "authorizedpendingcapture": "authorised, not captured",
    "capturedpendingsettlement": "captured, waiting for settlement",
    "refundpendingsettlement": "refund waiting for settlement",
    "pendingfinalsettlement": "waiting for settlement",
    "pendingsettlement": "waiting for settlement",
    "fdspendingreview": "held for fraud review",
    "fdsauthorizedpendingreview": "held for fraud review",
    "underreview": "held for review",
    "approvedreview": "approved after review",
    "failedreview": "declined after review",
    # Razorpay and Stripe (and settlement CSVs)
    "payment": "settled",
    "charge": "settled",
    "sale": "settled",
    "capture": "settled",
    "refund": "refund settled",
    "payment_refund": "refund settled",
    "refund_failure": "failed refund returned",
    "payment_failure_refund": "failed payment returned",
    "payment_reversal": "payment reversed",
    "adjustment": "adjustment",
    "dispute": "dispute",
    "transfer": "transfer",
    "transfer_refund": "transfer reversed",
    "payout": "payout",
    "payout_cancel": "payout cancelled",
    "payout_failure": "payout failed",
    "application_fee": "platform fee",
    "application_fee_refund": "platform fee refunded",
    "stripe_fee": "gateway fee",
    "reserve_transaction": "reserve movement",
    "reserved_funds": "reserved funds",
    "topup": "top-up",
    "contribution": "contribution",
}


def gateway_status_words(code: str) -> str:
    """A gateway's status code in our words: "settledSuccessfully" → "settled"; a code we do not
    know is shown as the gateway's, quoted."""
    if not code:
        return "no status given"
    return _STATUS_WORDS.get(code.strip().lower(), f"gateway status “{code}”")


def money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_amount(amount, currency)


def our_currency(d: Discrepancy) -> str:
    """The currency of our amount: our entry's, which differs from the line's (the discrepancy's
    currency) in a currency mismatch."""
    return d.entry.currency if d.entry_id is not None and d.entry is not None else d.currency


def _account(kind: str) -> str:
    return AccountKind(kind).label.split(" (")[0]  # "Gateway receivable (captured, not settled)"


def _posting(debit: str, credit: str, amount: int, currency: str) -> str:
    shown = money(abs(amount), currency)
    return f"debits {_account(debit)} {shown}, credits {_account(credit)} {shown}"


def _is_refund(d: Discrepancy) -> bool:
    if d.line is not None:
        return d.line.kind == LineKind.REFUND
    return d.refund_id is not None or (d.entry is not None and d.entry.kind == EntryKind.REFUND)


def _is_return(d: Discrepancy) -> bool:
    """A returned bank debit (an ACH return): the bank took a debit's money back. Its discrepancy
    also names the payment that was debited, but what the gateway reported is the return."""
    if d.line is not None:
        return d.line.kind == LineKind.RETURN
    return d.entry is not None and d.entry.kind == EntryKind.RETURN


def _subject(d: Discrepancy) -> str:
    if _is_refund(d):
        return "refund"
    if _is_return(d):
        return "return"
    if d.line is not None and d.line.kind == LineKind.ADJUSTMENT:
        return "transaction"
    return "payment"


def _gateway_did(d: Discrepancy) -> str:
    """What the gateway did with the money, as a verb: settled a charge, refunded a refund, took
    back a returned bank debit."""
    if _is_refund(d):
        return "refunded"
    return "took back" if _is_return(d) else "settled"


def _transaction(d: Discrepancy) -> str:
    return f"transaction {d.gateway_transaction_id}" if d.gateway_transaction_id else "a transaction"


def _more_or_less(difference: int, currency: str) -> str:
    return f"{money(abs(difference), currency)} {'more' if difference > 0 else 'less'}"


def _status_of_ours(d: Discrepancy) -> str:
    ours = d.refund if d.refund_id is not None else d.payment
    if ours is None:
        return "not successful"
    return ours.get_status_display().split(" (")[0].lower()  # "Expired (checkout never paid)"


def discrepancy_sentence(d: Discrepancy) -> str:
    """What happened, in one sentence finance can act on."""
    ours, theirs = money(d.our_amount, our_currency(d)), money(d.gateway_amount, d.currency)
    if _is_return(d) and (said := _return_sentence(d, ours, theirs)):
        return said
    refund = _is_refund(d)
    settled = _gateway_did(d)
    kind = d.kind
    if kind == DiscrepancyKind.AMOUNT_MISMATCH:
        how_much = _more_or_less(d.difference, d.currency)
        if refund:
            return f"The gateway refunded {theirs} where we recorded a refund of {ours} ({how_much})."
        return f"The gateway settled {theirs} for a payment we captured at {ours} ({how_much})."
    if kind == DiscrepancyKind.CURRENCY_MISMATCH:
        ours_was = f"a refund we recorded as {ours}" if refund else f"a payment we captured at {ours}"
        return f"The gateway {settled} {theirs} for {ours_was}: the currencies differ."
    if kind == DiscrepancyKind.MISSING_ON_OUR_SIDE:
        return f"The gateway {settled} {theirs} for {_transaction(d)} that we have no record of."
    if kind == DiscrepancyKind.MISSING_AT_GATEWAY:
        did = f"We refunded {ours}" if refund else f"We captured {ours}"
        if d.detail.startswith("not in any settlement"):  # matching's own words, with the cutoff
            return f"{did} ({_transaction(d)}), but it is {d.detail}."
        return f"{did} ({_transaction(d)}), but no gateway settlement includes it so far."
    if kind == DiscrepancyKind.DUPLICATE:
        again = f"The gateway {settled} {_transaction(d)} a second time ({theirs})"
        return f"{again}; our {_subject(d)} of {ours} was already settled once."
    if kind == DiscrepancyKind.BATCH_TOTALS:
        return _batch_totals_sentence(d)
    if kind == DiscrepancyKind.STATUS_MISMATCH:
        if d.payment_id is None and d.refund_id is None:
            status = gateway_status_words(d.line.gateway_status if d.line is not None else d.detail)
            return (
                f"The gateway's settlement lists {theirs} for {_transaction(d)} ({status}), neither a charge nor "
                "a refund: its settled total does not count it, and nothing on our side matches it."
            )
        return f"We show this {_subject(d)} as {_status_of_ours(d)}, but the gateway {settled} it ({theirs})."
    return f"{d.get_kind_display()}: the gateway {settled} {theirs}, we recorded {ours}."


def _return_sentence(d: Discrepancy, ours: str, theirs: str) -> str:
    """A returned bank debit's own sentence, for the kinds a return line can open; empty for the
    others (worded as any line's)."""
    kind = d.kind
    if kind == DiscrepancyKind.AMOUNT_MISMATCH:
        how_much = _more_or_less(d.difference, d.currency)
        return f"The gateway took back {theirs} for a returned bank debit we recorded at {ours} ({how_much})."
    if kind == DiscrepancyKind.CURRENCY_MISMATCH:
        return f"The gateway took back {theirs} for a returned bank debit we recorded as {ours}: the currencies differ."
    if kind == DiscrepancyKind.MISSING_ON_OUR_SIDE:
        return (
            f"The gateway took back {theirs} as a returned bank debit of {_transaction(d)}, a debit we have "
            "no record of."
        )
    if kind == DiscrepancyKind.DUPLICATE:
        return (
            f"The gateway took back {theirs} for the returned bank debit of {_transaction(d)} a second time; "
            f"our return of {ours} was already taken out of a settlement once."
        )
    return ""


def _batch_totals_sentence(d: Discrepancy) -> str:
    batch = d.batch
    if batch is None:
        return f"A batch's totals differ from its transactions: {d.detail}."
    charges = money(batch.reported_charges_amount, batch.currency)
    refunds = money(batch.reported_refunds_amount, batch.currency)
    return (
        f"The gateway's statistics for batch {batch.gateway_batch_id} report {batch.reported_charge_count} "
        f"charges of {charges} and {batch.reported_refund_count} refunds of {refunds}, but the transactions "
        f"it lists in that batch add up to {d.detail}."
    )


def difference_sentence(d: Discrepancy) -> str:
    """How the gateway's amount relates to ours, sign explained; empty where there is nothing to
    compare (one side missing, or two currencies)."""
    if d.our_amount is None or d.gateway_amount is None or our_currency(d) != d.currency:
        return ""
    if d.kind == DiscrepancyKind.BATCH_TOTALS:
        if d.difference == 0:
            return "The net amounts agree: the counts differ."
        return f"The statistics' net is {_more_or_less(d.difference, d.currency)} than the listed transactions'."
    if d.difference == 0:
        return "The two amounts agree."
    if _is_refund(d):
        return f"The gateway refunded {_more_or_less(d.difference, d.currency)} than we recorded."
    if _is_return(d):
        return f"The gateway took back {_more_or_less(d.difference, d.currency)} than we recorded for the return."
    return f"The gateway settled {_more_or_less(d.difference, d.currency)} than we captured."


def receivable_sentence(d: Discrepancy) -> str:
    """What the discrepancy leaves in the gateway receivable, related to the difference."""
    if d.kind == DiscrepancyKind.CURRENCY_MISMATCH:
        ours, theirs = money(d.our_amount, our_currency(d)), money(d.gateway_amount, d.currency)
        return (
            f"The gateway receivable still holds our {ours} and the gateway's settlement of {theirs} "
            "came out of it in another currency: the two do not cancel out."
        )
    if d.kind == DiscrepancyKind.BATCH_TOTALS:
        return (
            "Nothing is left in the gateway receivable for it: the ledger follows the batch's transactions, "
            "each matched on its own."
        )
    residual = discrepancy_residual(d)
    left = money(abs(residual), d.currency)
    if residual == 0:
        return "Nothing is left in the gateway receivable for it."
    if d.kind == DiscrepancyKind.AMOUNT_MISMATCH:
        if residual > 0:
            return f"That difference, {left}, is still in the gateway receivable: the gateway owes it to us."
        return f"That difference, {left}, is missing from the gateway receivable: the gateway paid it beyond our books."
    if residual > 0:
        return f"{left} is left in the gateway receivable for it: money we booked as owed that the gateway did not pay."
    return f"The gateway receivable is {left} below zero for it: the gateway paid money our books do not show as owed."


def _then(d: Discrepancy, left: int = 0) -> str:
    return f"the gateway receivable then holds {money(left, d.currency)} for this {_subject(d)}"


def resolution_sentence(d: Discrepancy, resolution: str) -> str:
    """What a resolution posts and what it leaves, as discrepancies.discrepancy_resolve does it."""
    residual = discrepancy_residual(d)
    receivable = AccountKind.RECEIVABLE
    if resolution == Resolution.WRITE_OFF:
        posting = _posting(AccountKind.WRITE_OFFS, receivable, residual, d.currency)
        return (
            f"Write off {money(residual, d.currency)}: {posting}; {_then(d)}. "
            "Needs a second approver: nothing posts until another person approves it."
        )
    if resolution == Resolution.ACCEPT_GATEWAY:
        return _accept_sentence(d, residual)
    if resolution == Resolution.ADJUST_OURS:
        return _adjust_sentence(d, residual)
    if resolution == Resolution.CREATE_PAYMENT:
        posting = _posting(receivable, AccountKind.SALES, d.gateway_amount or 0, d.currency)
        return (
            f"Create the missing payment: asks the gateway for its record of {_transaction(d)} and records it as a "
            f"captured payment; the capture {posting} (the amount of its settlement; its record decides); {_then(d)}."
        )
    if resolution == Resolution.SETTLED_LATE:
        return "Settled in a later batch: closed when a later settlement included it; posts nothing."
    return Resolution(resolution).label if resolution in Resolution.values else resolution


def _accept_sentence(d: Discrepancy, residual: int) -> str:
    receivable, adjustments = AccountKind.RECEIVABLE, AccountKind.ADJUSTMENTS
    if d.kind == DiscrepancyKind.BATCH_TOTALS:
        return (
            "Accept the gateway's view: posts nothing; the batch's transactions, each matched on its own, stand "
            "(ask the gateway about its statistics if the difference matters)."
        )
    if d.kind == DiscrepancyKind.CURRENCY_MISMATCH:
        ours_amount = d.entry.amount if d.entry is not None else d.our_amount or 0
        theirs_amount = d.line.amount if d.line is not None else d.gateway_amount or 0
        ours_out, theirs_in = (adjustments, receivable), (receivable, adjustments)
        if d.line.kind in MONEY_BACK_LINES if d.line is not None else _is_refund(d):  # as _accept_currency
            ours_out, theirs_in = theirs_in, ours_out
        first = _posting(*ours_out, ours_amount, our_currency(d))
        second = _posting(*theirs_in, theirs_amount, d.currency)
        return (
            f"Accept the gateway's view: in our currency, {first}; in the gateway's, {second}; the gateway "
            f"receivable then holds nothing for this {_subject(d)} in either currency."
        )
    if residual == 0:
        return "Accept the gateway's view: nothing to post, this line moved no money in the settlement."
    debit, credit = (adjustments, receivable) if residual > 0 else (receivable, adjustments)
    return f"Accept the gateway's view: {_posting(debit, credit, residual, d.currency)}; {_then(d)}."


def _adjust_sentence(d: Discrepancy, residual: int) -> str:
    receivable, sales, refunds = AccountKind.RECEIVABLE, AccountKind.SALES, AccountKind.REFUNDS
    ours = d.our_amount or 0
    if d.kind == DiscrepancyKind.AMOUNT_MISMATCH:
        delta = d.difference
        lowered = "lowered" if delta < 0 else "raised"
        entry = (
            f"a capture reversal {_posting(sales, receivable, delta, d.currency)}"
            if delta < 0
            else f"a capture {_posting(receivable, sales, delta, d.currency)}"
        )
        return (
            f"Adjust our record: the payment's captured amount is {lowered} by {money(abs(delta), d.currency)} to "
            f"what the gateway settled; {entry}; {_then(d)}."
        )
    if d.kind == DiscrepancyKind.STATUS_MISMATCH and d.refund_id is not None:
        amount = d.refund.amount if d.refund is not None else d.gateway_amount or 0
        posting = _posting(refunds, receivable, amount, d.currency)
        return f"Adjust our record: the refund becomes succeeded; the refund {posting}; {_then(d, residual - amount)}."
    if d.kind == DiscrepancyKind.STATUS_MISMATCH:
        before = d.payment.amount_captured if d.payment is not None else 0
        amount = (d.gateway_amount or 0) - before
        posting = _posting(receivable, sales, amount, d.currency)
        return (
            f"Adjust our record: the payment becomes captured at {money(d.gateway_amount, d.currency)}; "
            f"the capture {posting}; {_then(d, residual + amount)}."
        )
    if d.kind == DiscrepancyKind.MISSING_AT_GATEWAY and d.refund_id is not None:
        amount = d.refund.amount if d.refund is not None else ours
        posting = _posting(receivable, refunds, amount, d.currency)
        return (
            f"Adjust our record: the refund becomes failed (never settled); the refund's reversal {posting}; "
            f"{_then(d, residual + amount)}."
        )
    if d.kind == DiscrepancyKind.MISSING_AT_GATEWAY:
        left = d.payment.amount_captured - ours if d.payment is not None else None
        becomes = "becomes failed (never settled)" if left == 0 else f"has {money(ours, d.currency)} less captured"
        posting = _posting(sales, receivable, ours, d.currency)
        return f"Adjust our record: the payment {becomes}; a capture reversal {posting}; {_then(d, residual - ours)}."
    return "Adjust our record: not possible for this discrepancy."
