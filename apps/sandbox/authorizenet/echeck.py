"""eCheck.Net in the Authorize.Net sandbox: debits and credits of US bank accounts (payment
`bankAccount`), their separate settlement and their returns.

As the real service: an authCaptureTransaction debits the account (accountType "eCheck",
accountNumber "XXXX1234", capturedPendingSettlement); authOnlyTransaction is refused (reason 246:
a bank account cannot be authorised only); the routing number must be 9 digits with a valid ABA
checksum (reason 9) and the account number 5 to 17 digits (reason 10); CCD goes with business
checking only and business checking with CCD only (reason 244); ARC and BOC, paper-check
conversions, are not allowed here (246). The testing guide's rule: a debit over 100.00 is
declined (reason 2). A refundTransaction with a bankAccount credits a settled debit (reason 54
before settlement, 55 above what settled), naming it by refTransId and the account by its number
or its masked last four ("XXXX1234"); with no refTransId it is an unlinked credit, accepted only on
accounts with Expanded Credit Capabilities (`AnetAccount.unlinked_credits`, else reason 54).

Settlement: eCheck transactions go into their own batch (paymentMethod eCheck) at the same
cutoff as cards. Returns come afterwards, in the eCheck batch of the return's date, with a NACHA
return code; the transaction's status becomes returnedItem. The real service sends no webhook for
a return: merchants find returns in the Transaction Details API.

Test trigger (like the test cards): an account number "990" + two digits + one digit N, e.g.
9900121234, is returned with R<two digits> (R01 here) on the N-th settlement run after the one
that settled it (2 here). `return_debit` returns any settled debit at once (sandbox_return).
Only the last four digits of either number and a keyed fingerprint are kept, as for cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from lxml import etree

from apps.sandbox.models import AnetAccount, AnetBatch, AnetTransaction

from .cards import REASONS, fingerprint
from .xml import Builder, find, find_text

ECHECK = "eCheck"
ACCOUNT_TYPES = frozenset({"checking", "savings", "businessChecking"})
ALLOWED_ECHECK_TYPES = frozenset({"WEB", "PPD", "CCD", "TEL"})
KNOWN_ECHECK_TYPES = ALLOWED_ECHECK_TYPES | {"ARC", "BOC"}
DEBIT_LIMIT = 10_000  # minor units: the sandbox declines debits over 100.00
RETURN_TRIGGER_PREFIX = "990"
RETURN_REASONS = {
    "R01": "Insufficient Funds",
    "R02": "Account Closed",
    "R03": "No Account/Unable to Locate Account",
    "R04": "Invalid Account Number Structure",
    "R05": "Unauthorized Debit to Consumer Account Using Corporate SEC Code",
    "R07": "Authorization Revoked by Customer",
    "R08": "Payment Stopped",
    "R09": "Uncollected Funds",
    "R10": "Customer Advises Originator is Not Known to Receiver and/or Is Not Authorized",
    "R16": "Account Frozen/Entry Returned Per OFAC Instruction",
    "R20": "Non-Transaction Account",
    "R29": "Corporate Customer Advises Not Authorized",
}
RETURNED_ITEM_ID_OFFSET = 90_000_000_000


def aba_valid(routing: str) -> bool:
    """A US routing number: 9 digits whose weighted sum (3, 7, 1 repeating) is a multiple of 10."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    digits = [int(char) for char in routing]
    return sum(weight * digit for weight, digit in zip((3, 7, 1) * 3, digits, strict=True)) % 10 == 0


def masked(last4: str) -> str:
    return f"XXXX{last4}"


@dataclass
class BankFacts:
    """What the sandbox keeps of a bank account: never either number."""

    account_type: str
    routing_last4: str
    last4: str
    fingerprint: str
    name: str
    echeck_type: str
    problem: str  # "" or the reason code refusing it
    scheduled_return: tuple[str, int] | None = None  # (NACHA code, settlement runs after settling)


@dataclass
class EcheckResult:
    response_code: str
    reason: str
    stored: AnetTransaction | None = None
    last4: str = ""
    original: AnetTransaction | None = None


def _return_trigger(account_number: str) -> tuple[str, int] | None:
    if not account_number.startswith(RETURN_TRIGGER_PREFIX) or len(account_number) < 6:
        return None
    code = f"R{account_number[3:5]}"
    return (code, max(1, int(account_number[5]))) if code in RETURN_REASONS else None


def bank_facts(node: etree._Element | None, *, credit: bool = False) -> BankFacts:
    account_type = find_text(node, "accountType") or "checking"
    routing = find_text(node, "routingNumber")
    number = find_text(node, "accountNumber")
    echeck_type = find_text(node, "echeckType") or ("CCD" if account_type == "businessChecking" else "WEB")
    masked_routing = routing.startswith("XXXX") and routing[4:].isdigit() and len(routing) == 8
    masked_number = number.startswith("XXXX") and number[4:].isdigit() and len(number) == 8
    problem = ""
    if not (aba_valid(routing) or (credit and masked_routing)):
        problem = "9"
    elif not ((number.isdigit() and 5 <= len(number) <= 17) or (credit and masked_number)):
        problem = "10"
    elif account_type not in ACCOUNT_TYPES or echeck_type not in KNOWN_ECHECK_TYPES:
        problem = "100"
    elif echeck_type not in ALLOWED_ECHECK_TYPES:
        problem = "246"
    elif (echeck_type == "CCD") != (account_type == "businessChecking"):
        problem = "244"
    return BankFacts(
        account_type=account_type,
        routing_last4=routing[-4:],
        last4=number[-4:],
        fingerprint=fingerprint(f"{routing}:{number}") if number.isdigit() else "",
        name=find_text(node, "nameOnAccount")[:22],
        echeck_type=echeck_type,
        problem=problem,
        scheduled_return=_return_trigger(number) if number.isdigit() else None,
    )


def _new_transaction(
    account: AnetAccount, request: etree._Element | None, facts: BankFacts, **fields: object
) -> AnetTransaction:
    first, _, last = (find_text(request, "billTo/firstName") + " " + find_text(request, "billTo/lastName")).partition(
        " "
    )
    return AnetTransaction.objects.create(
        account=account,
        currency=account.currency,
        card_type=ECHECK,
        card_last4=facts.last4,
        card_fingerprint=facts.fingerprint,
        bank_account_type=facts.account_type,
        bank_routing_last4=facts.routing_last4,
        name_on_account=facts.name,
        echeck_type=facts.echeck_type,
        invoice_number=find_text(request, "order/invoiceNumber"),
        description=find_text(request, "order/description")[:255],
        customer_email=find_text(request, "customer/email")[:255],
        first_name=first.strip()[:50],
        last_name=last.strip()[:50],
        avs_code="P",
        **fields,
    )


def debit(
    *,
    account: AnetAccount,
    request: etree._Element | None,
    kind: str,
    amount: int | None,
    ref_id: str,
    window_seconds: int,
    now: datetime,
) -> EcheckResult:
    """An authCaptureTransaction (or a refused authOnlyTransaction) paid by bank account."""
    facts = bank_facts(find(request, "payment/bankAccount"))
    if facts.problem:
        return EcheckResult("3", facts.problem, last4=facts.last4)
    if kind != "authCaptureTransaction":
        return EcheckResult("3", "246", last4=facts.last4)
    if amount is None:
        return EcheckResult("3", "5", last4=facts.last4)
    invoice = find_text(request, "order/invoiceNumber")
    approved = amount <= DEBIT_LIMIT
    with transaction.atomic():
        AnetAccount.objects.select_for_update().get(pk=account.pk)  # one charge at a time per account
        if (
            window_seconds > 0
            and AnetTransaction.objects.filter(
                account=account,
                transaction_type=kind,
                card_fingerprint=facts.fingerprint,
                auth_amount=amount,
                invoice_number=invoice,
                submitted_at__gte=now - timedelta(seconds=window_seconds),
            ).exists()
        ):
            return EcheckResult("3", "11", last4=facts.last4)
        scheduled = facts.scheduled_return if approved else None
        stored = _new_transaction(
            account,
            request,
            facts,
            transaction_type=kind,
            status=AnetTransaction.Status.CAPTURED if approved else AnetTransaction.Status.DECLINED,
            response_code="1" if approved else "2",
            reason_code="1" if approved else "2",
            reason_text=REASONS["1" if approved else "2"],
            auth_amount=amount,
            settle_amount=amount if approved else 0,
            ref_id=ref_id,
            submitted_at=now,
            return_code=scheduled[0] if scheduled else "",
            return_after_runs=scheduled[1] if scheduled else None,
        )
    return EcheckResult(stored.response_code, stored.reason_code, stored, facts.last4)


def credit(
    *, account: AnetAccount, request: etree._Element | None, amount: int | None, ref_id: str, now: datetime
) -> EcheckResult:
    """A refundTransaction to a bank account: against a settled debit (refTransId), or unlinked."""
    facts = bank_facts(find(request, "payment/bankAccount"), credit=True)
    if facts.problem:
        return EcheckResult("3", facts.problem, last4=facts.last4)
    if amount is None:
        return EcheckResult("3", "5", last4=facts.last4)
    ref_trans_id = find_text(request, "refTransId")
    invoice = find_text(request, "order/invoiceNumber")
    with transaction.atomic():
        original = None
        if ref_trans_id:
            pk = AnetTransaction.pk_from_trans_id(ref_trans_id)
            original = AnetTransaction.objects.select_for_update().filter(account=account, pk=pk or 0).first()
            if (
                original is None
                or original.card_type != ECHECK
                or original.transaction_type != "authCaptureTransaction"
                or original.status != AnetTransaction.Status.SETTLED
                or (original.card_last4, original.bank_routing_last4) != (facts.last4, facts.routing_last4)
            ):
                return EcheckResult("3", "54", last4=facts.last4, original=original)
            refunded = original.refunds.exclude(status=AnetTransaction.Status.VOIDED).aggregate(
                total=Sum("auth_amount")
            )
            if (refunded["total"] or 0) + amount > original.settle_amount:
                return EcheckResult("3", "55", last4=facts.last4, original=original)
        elif not account.unlinked_credits or not facts.fingerprint:
            return EcheckResult("3", "54", last4=facts.last4)  # no Expanded Credit Capabilities
        window = account.duplicate_window_seconds
        if (
            window
            and AnetTransaction.objects.filter(
                account=account,
                transaction_type="refundTransaction",
                card_type=ECHECK,
                card_last4=facts.last4,
                auth_amount=amount,
                invoice_number=invoice,
                original=original,
                submitted_at__gte=now - timedelta(seconds=window),
            ).exists()
        ):
            return EcheckResult("3", "11", last4=facts.last4, original=original)
        stored = _new_transaction(
            account,
            request,
            facts,
            transaction_type="refundTransaction",
            status=AnetTransaction.Status.REFUND_PENDING,
            response_code="1",
            reason_code="1",
            reason_text=REASONS["1"],
            auth_amount=amount,
            settle_amount=amount,
            ref_id=ref_id,
            original=original,
            submitted_at=now,
        )
    return EcheckResult("1", "1", stored, facts.last4, original)


# --- returns ------------------------------------------------------------------------------------


def returned_item_id(stored: AnetTransaction) -> str:
    return str(RETURNED_ITEM_ID_OFFSET + stored.pk)


def due_returns(account: AnetAccount) -> list[AnetTransaction]:
    """Inside the settlement's transaction: one more run has passed for every settled debit with a
    scheduled return; those whose count reaches zero are returned in this run's eCheck batch."""
    scheduled = list(
        AnetTransaction.objects.select_for_update().filter(
            account=account,
            card_type=ECHECK,
            status=AnetTransaction.Status.SETTLED,
            returned_at__isnull=True,
            return_after_runs__isnull=False,
        )
    )
    due = []
    for stored in scheduled:
        stored.return_after_runs = max(0, (stored.return_after_runs or 1) - 1)
        stored.save(update_fields=["return_after_runs"])
        if stored.return_after_runs == 0:
            due.append(stored)
    return due


def mark_returned(transactions: list[AnetTransaction], batch: AnetBatch) -> None:
    for stored in transactions:
        stored.status = AnetTransaction.Status.RETURNED
        stored.return_description = RETURN_REASONS.get(stored.return_code, "Returned")
        stored.returned_at = batch.settled_at
        stored.return_batch = batch
        stored.return_after_runs = None
        stored.save(update_fields=["status", "return_description", "returned_at", "return_batch", "return_after_runs"])


class NotReturnable(ValueError):
    pass


def return_debit(*, account: AnetAccount, trans_id: str, code: str) -> AnetTransaction:
    """Return a settled eCheck debit now, with a NACHA code, in an eCheck batch of its own."""
    code = code.upper()
    if code not in RETURN_REASONS:
        raise NotReturnable(f"Unknown return code {code!r}; one of {', '.join(RETURN_REASONS)}")
    with transaction.atomic():
        pk = AnetTransaction.pk_from_trans_id(trans_id)
        stored = AnetTransaction.objects.select_for_update().filter(account=account, pk=pk or 0).first()
        if stored is None or stored.card_type != ECHECK or stored.transaction_type != "authCaptureTransaction":
            raise NotReturnable(f"No eCheck debit {trans_id} at {account}")
        if stored.status != AnetTransaction.Status.SETTLED:
            raise NotReturnable(f"Transaction {trans_id} is {stored.status}: only a settled debit can be returned")
        stored.return_code = code
        batch = AnetBatch.objects.create(account=account, settled_at=timezone.now(), payment_method=ECHECK)
        mark_returned([stored], batch)
    return stored


# --- what reports show --------------------------------------------------------------------------


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_bank_account(builder: Builder, payment: etree._Element, stored: AnetTransaction) -> None:
    """getTransactionDetails' payment.bankAccount (bankAccountMaskedType): masked numbers only."""
    node = builder.add(payment, "bankAccount")
    builder.add(node, "accountType", stored.bank_account_type or "checking")
    builder.add(node, "routingNumber", masked(stored.bank_routing_last4))
    builder.add(node, "accountNumber", masked(stored.card_last4))
    builder.add(node, "nameOnAccount", stored.name_on_account)
    builder.add_optional(node, "echeckType", stored.echeck_type)


def write_returned_items(builder: Builder, parent: etree._Element, stored: AnetTransaction) -> None:
    """getTransactionDetails' returnedItems (after marketType, as transactionDetailsType orders it)."""
    if stored.returned_at is None:
        return
    item = builder.add(builder.add(parent, "returnedItems"), "returnedItem")
    builder.add(item, "id", returned_item_id(stored))
    builder.add(item, "dateUTC", _utc(stored.returned_at))
    builder.add(item, "dateLocal", _utc(stored.returned_at)[:-1])
    builder.add(item, "code", stored.return_code)
    builder.add(item, "description", stored.return_description)
