from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record

from .authorizenet.cards import card_facts
from .authorizenet.cim import set_declining
from .authorizenet.echeck import return_debit
from .authorizenet.reporting import settle
from .models import (
    AnetAccount,
    AnetBatch,
    AnetCustomerProfile,
    AnetPaymentProfile,
    AnetTransaction,
    RzpAccount,
    RzpOrder,
    RzpPayment,
    RzpSettlement,
    SandboxFault,
)
from .razorpay import engine as rzp_engine
from .razorpay import settlements as rzp_settlements
from .razorpay.ids import new_id


def anet_account_create(*, api_login_id: str, currency: str = "USD") -> AnetAccount:
    """A sandbox merchant account with fresh credentials (as the real sandbox's sign-up gives)."""
    return AnetAccount.objects.create(
        api_login_id=api_login_id,
        transaction_key=secrets.token_hex(8),
        signature_key=secrets.token_hex(64).upper(),
        currency=currency,
    )


def anet_settle(*, account: AnetAccount | None = None, actor: Actor) -> list[AnetBatch]:
    batches = settle(account=account)
    if batches:
        with transaction.atomic():
            for batch in batches:
                audit_record(
                    actor=actor,
                    action="sandbox.batch_settled",
                    target=batch,
                    after={"batch_id": batch.batch_id, "transactions": batch.transactions.count()},
                )
    return batches


def anet_return(*, account: AnetAccount, trans_id: str, code: str, actor: Actor) -> AnetTransaction:
    """Return a settled eCheck debit now with a NACHA code (R01 ...), in an eCheck batch of its
    own, as the bank's return would arrive days after settlement. Raises NotReturnable."""
    returned = return_debit(account=account, trans_id=trans_id, code=code)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="sandbox.debit_returned",
            target=returned,
            after={"trans_id": returned.trans_id, "code": returned.return_code, "batch_id": returned.return_batch_id},
        )
    return returned


SETTLEMENT_DISCREPANCIES = ("missing", "amount", "unknown", "refund_we_think_failed")


def _settlement_discrepancy(
    kind: str,
    *,
    refund_fault: tuple[str, str],
    unknown: Callable[[], models.Model],
    unsettled: Callable[[], Any],
    amount: int | None,
    reference: str,
    actor: Actor,
) -> Any:
    """The one way both sandboxes inject a discrepancy: `refund_fault` is the (gateway, match) of
    the fault that misreports the next refund, `unknown` makes a charge the merchant never saw,
    `unsettled` locks the unsettled charge that `missing` holds back or `amount` changes (both
    sandbox models carry held_from_settlement and settle_amount)."""
    with transaction.atomic():
        if kind == "refund_we_think_failed":
            gateway, match = refund_fault
            injected: Any = SandboxFault.objects.create(
                gateway=gateway, kind=SandboxFault.Kind.MISREPORT_DECLINED, match=match
            )
        elif kind == "unknown":
            injected = unknown()
        elif kind in {"missing", "amount"}:
            injected = unsettled()
            if kind == "missing":
                injected.held_from_settlement = True
            else:
                if amount is None or amount <= 0:
                    raise ValueError("an amount discrepancy needs the amount to settle")
                injected.settle_amount = amount
            injected.save(update_fields=["held_from_settlement", "settle_amount"])
        else:
            raise ValueError(f"unknown discrepancy kind {kind!r}; one of {', '.join(SETTLEMENT_DISCREPANCIES)}")
        audit_record(
            actor=actor,
            action="sandbox.discrepancy_injected",
            target=injected,
            after={"kind": kind, "transaction": reference, "amount": amount},
        )
    return injected


def anet_settlement_discrepancy(
    *, account: AnetAccount, kind: str, trans_id: str = "", amount: int | None = None, actor: Actor
) -> AnetTransaction | SandboxFault:
    """Make the next settlement disagree with the merchant's books, for tests and the demo:
    `missing` holds a transaction out of settlement, `amount` settles it for another amount,
    `unknown` makes a charge the merchant's system never saw (as if keyed in the merchant
    interface), `refund_we_think_failed` makes the next refund go through but answer "declined"."""

    def unknown() -> AnetTransaction:
        return AnetTransaction.objects.create(
            account=account,
            transaction_type="authCaptureTransaction",
            status=AnetTransaction.Status.CAPTURED,
            response_code="1",
            reason_code="1",
            reason_text="This transaction has been approved.",
            auth_amount=amount or 4200,
            settle_amount=amount or 4200,
            currency=account.currency,
            card_type="Visa",
            card_last4="1111",
            auth_code="SBX001",
            submitted_at=timezone.now(),
        )

    def unsettled() -> AnetTransaction:
        pk = AnetTransaction.pk_from_trans_id(trans_id) or 0
        return AnetTransaction.objects.select_for_update().get(account=account, pk=pk, batch__isnull=True)

    return _settlement_discrepancy(  # type: ignore[no-any-return]
        kind,
        refund_fault=("authorizenet", "refundTransaction"),
        unknown=unknown,
        unsettled=unsettled,
        amount=amount,
        reference=trans_id,
        actor=actor,
    )


def rzp_account_create(*, key_id: str | None = None) -> RzpAccount:
    """A Razorpay sandbox account with a fresh test key pair (what the dashboard's "Generate key" gives)."""
    return RzpAccount.objects.create(
        key_id=key_id or new_id("rzp_test_"),
        key_secret=new_id("", 24),
    )


def rzp_settle(*, account: RzpAccount | None = None, actor: Actor) -> list[RzpSettlement]:
    """Run the Razorpay sandbox's settlement cycle now: one settlement per account (and currency)
    for every captured, unsettled payment and processed, unsettled refund."""
    settlements = rzp_settlements.settle(account=account)
    if settlements:
        with transaction.atomic():
            for settlement in settlements:
                audit_record(
                    actor=actor,
                    action="sandbox.settlement_processed",
                    target=settlement,
                    after={
                        "settlement_id": settlement.rzp_id,
                        "amount": settlement.amount,
                        "currency": settlement.currency,
                        "payments": settlement.payments.count(),
                        "refunds": settlement.refunds.count(),
                    },
                )
    return settlements


def rzp_settlement_discrepancy(
    *, account: RzpAccount, kind: str, payment_id: str = "", amount: int | None = None, actor: Actor
) -> RzpPayment | SandboxFault:
    """Make the next Razorpay settlement disagree with the merchant's books, for tests and the demo:
    `missing` holds a payment out of settlement, `amount` settles it for another amount, `unknown`
    makes a captured payment the merchant's system never saw (as if taken through a payment link
    from the dashboard), `refund_we_think_failed` makes the next refund go through but answer with
    an error."""

    def unsettled() -> RzpPayment:
        return RzpPayment.objects.select_for_update().get(
            account=account, rzp_id=payment_id, captured=True, settlement__isnull=True
        )

    return _settlement_discrepancy(  # type: ignore[no-any-return]
        kind,
        refund_fault=("razorpay", "payments.refund"),
        unknown=lambda: _rzp_unknown_payment(account, amount or 4200),
        unsettled=unsettled,
        amount=amount,
        reference=payment_id,
        actor=actor,
    )


def _rzp_unknown_payment(account: RzpAccount, amount: int) -> RzpPayment:
    """A paid order and its captured card payment, made without the merchant's API calls."""
    now = timezone.now()
    order = RzpOrder.objects.create(
        account=account,
        rzp_id=new_id("order_"),
        amount=amount,
        amount_paid=amount,
        currency="INR",
        status=RzpOrder.Status.PAID,
        attempts=1,
        created_at=now,
    )
    fee, tax = rzp_engine.fee_and_tax(amount)
    return RzpPayment.objects.create(
        account=account,
        order=order,
        rzp_id=new_id("pay_"),
        amount=amount,
        currency="INR",
        status=RzpPayment.Status.CAPTURED,
        captured=True,
        card_id=new_id("card_"),
        card_network="Visa",
        card_last4="1111",
        card_type="credit",
        fee=fee,
        tax=tax,
        auth_code=f"{secrets.randbelow(10**6):06d}",
        created_at=now,
        captured_at=now,
    )


def anet_payment_profile_set_decline(*, payment_profile_id: str, declining: bool = True) -> int:
    """Test switch: the sandbox declines (or approves again) charges of this saved card, as a card
    that expired or ran out of funds after it was saved would."""
    return set_declining(payment_profile_id=payment_profile_id, declining=declining)


def anet_vault_seed(
    *, account: AnetAccount, reference: str, email: str, card_number: str, expiration: str, zip_code: str = "",
    declining: bool = False,
) -> tuple[str, str]:  # fmt: skip
    """Demo data: a customer profile with one saved card, written straight into the sandbox's
    vault (what createCustomerProfile would store: brand, last four, fingerprint, never the
    number). Returns (customer profile id, payment profile id)."""
    facts = card_facts(card_number, expiration, "")
    profile = AnetCustomerProfile.objects.create(account=account, merchant_customer_id=reference[:20], email=email)
    saved = AnetPaymentProfile.objects.create(
        customer_profile=profile, card_type=facts.card_type, card_last4=facts.last4,
        card_fingerprint=facts.fingerprint, expiration=expiration, zip=zip_code, is_default=True, declining=declining,
    )  # fmt: skip
    return profile.profile_id, saved.payment_profile_id
