"""The Authorize.Net sandbox's operations on an earlier transaction: capture of an authorisation
(priorAuthCaptureTransaction), void, and refund (of a settled card charge, or a credit to the bank
account of a settled eCheck debit), with the reason codes the real service gives; and the outcome
every transaction answer is built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from lxml import etree

from apps.sandbox.authorizenet import echeck
from apps.sandbox.authorizenet.cards import REASONS
from apps.sandbox.authorizenet.xml import find, find_text
from apps.sandbox.models import AnetAccount, AnetTransaction

CHARGE_TYPES = {"authOnlyTransaction", "authCaptureTransaction", "captureOnlyTransaction"}


@dataclass
class Outcome:
    response_code: str
    reason_code: str
    transaction: AnetTransaction | None = None
    trans_id: str = "0"
    account_number: str = ""
    account_type: str = ""
    avs: str = ""
    cvv: str = ""
    auth_code: str = ""
    ref_trans_id: str = ""

    @property
    def approved(self) -> bool:
        return self.response_code in {"1", "4"}


class FollowOns:
    """Mixed into the sandbox engine, which gives the time of the request and reads amounts."""

    now: datetime

    def _amount(self, request: etree._Element | None, account: AnetAccount) -> int | None:
        raise NotImplementedError

    def _original(self, account: AnetAccount, request: etree._Element | None) -> AnetTransaction | None:
        pk = AnetTransaction.pk_from_trans_id(find_text(request, "refTransId"))
        if pk is None:
            return None
        return AnetTransaction.objects.select_for_update().filter(account=account, pk=pk).first()

    @staticmethod
    def _echo(original: AnetTransaction, response_code: str, reason: str) -> Outcome:
        return Outcome(
            response_code,
            reason,
            original,
            original.trans_id,
            f"XXXX{original.card_last4}",
            original.card_type,
            auth_code=original.auth_code,
            ref_trans_id=original.trans_id,
        )

    def _capture(self, account: AnetAccount, request: etree._Element | None) -> Outcome:
        with transaction.atomic():
            original = self._original(account, request)
            if original is None or original.transaction_type != "authOnlyTransaction":
                return Outcome("3", "16")
            if original.status in {AnetTransaction.Status.CAPTURED, AnetTransaction.Status.SETTLED}:
                return self._echo(original, "1", "311")
            if original.status != AnetTransaction.Status.AUTHORIZED:
                return self._echo(original, "3", "16")
            amount = self._amount(request, account) if find_text(request, "amount") else original.auth_amount
            if amount is None:
                return self._echo(original, "3", "5")
            if amount > original.auth_amount:
                return self._echo(original, "3", "47")
            original.status = AnetTransaction.Status.CAPTURED
            original.settle_amount = amount
            original.save(update_fields=["status", "settle_amount"])
        return self._echo(original, "1", "1")

    def _void(self, account: AnetAccount, request: etree._Element | None) -> Outcome:
        voidable = {
            AnetTransaction.Status.AUTHORIZED,
            AnetTransaction.Status.CAPTURED,
            AnetTransaction.Status.REFUND_PENDING,
        }
        with transaction.atomic():
            original = self._original(account, request)
            if original is None:
                return Outcome("3", "16")
            if original.status == AnetTransaction.Status.VOIDED:
                return self._echo(original, "1", "310")
            if original.status not in voidable:
                # Settled (or declined) transactions are outside the void's reach.
                return self._echo(original, "3", "16")
            original.status = AnetTransaction.Status.VOIDED
            original.save(update_fields=["status"])
        return self._echo(original, "1", "1")

    @staticmethod
    def _bank_outcome(result: echeck.EcheckResult) -> Outcome:
        stored = result.stored
        return Outcome(
            result.response_code,
            result.reason,
            stored,
            stored.trans_id if stored is not None else "0",
            echeck.masked(result.last4),
            echeck.ECHECK,
            avs="P",
            ref_trans_id=result.original.trans_id if result.original is not None else "",
        )

    def _refund(self, account: AnetAccount, request: etree._Element | None, ref_id: str) -> Outcome:
        amount = self._amount(request, account)
        if find(request, "payment/bankAccount") is not None:
            return self._bank_outcome(
                echeck.credit(account=account, request=request, amount=amount, ref_id=ref_id, now=self.now)
            )
        last4 = find_text(request, "payment/creditCard/cardNumber")[-4:]
        invoice = find_text(request, "order/invoiceNumber")
        with transaction.atomic():
            original = self._original(account, request)
            if original is None:
                return Outcome("3", "54")
            charged = original.transaction_type in CHARGE_TYPES
            if not charged or original.status != AnetTransaction.Status.SETTLED or last4 != original.card_last4:
                return self._echo(original, "3", "54")
            if amount is None:
                return self._echo(original, "3", "5")
            refunded = original.refunds.exclude(status=AnetTransaction.Status.VOIDED).aggregate(
                total=Sum("auth_amount")
            )
            if (refunded["total"] or 0) + amount > original.settle_amount:
                return self._echo(original, "3", "55")
            window = account.duplicate_window_seconds
            if (
                window
                and original.refunds.filter(
                    auth_amount=amount, invoice_number=invoice, submitted_at__gte=self.now - timedelta(seconds=window)
                ).exists()
            ):
                return self._echo(original, "3", "11")
            refund = AnetTransaction.objects.create(
                account=account,
                transaction_type="refundTransaction",
                status=AnetTransaction.Status.REFUND_PENDING,
                response_code="1",
                reason_code="1",
                reason_text=REASONS["1"],
                auth_amount=amount,
                settle_amount=amount,
                currency=original.currency,
                card_type=original.card_type,
                card_last4=original.card_last4,
                invoice_number=invoice,
                ref_id=ref_id,
                original=original,
                submitted_at=self.now,
            )
        outcome = self._echo(refund, "1", "1")
        outcome.ref_trans_id = original.trans_id
        return outcome
