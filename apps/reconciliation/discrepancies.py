"""Resolving the discrepancies reconciliation opens: assign, resolve (accept the gateway's
figure, accept a currency difference, adjust ours, create the missing payment), and write-offs
under maker-checker (requested by one person, approved or rejected by another)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_atomic
from apps.gateways.errors import GatewayError, GatewayNotFound
from apps.gateways.registry import gateway_for
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.services import EntrySpec, ledger_post, ledger_post_many
from apps.payments.models import Payment
from apps.payments.services import (
    payment_adjust_captured,
    payment_adopt_gateway_capture,
    payment_record_gateway_charge,
    refund_adopt_gateway_success,
    refund_mark_not_settled,
)

from .errors import DiscrepancyStateError, ReconciliationError, ResolutionNotAllowed, SelfApprovalRefused
from .models import (
    MONEY_BACK_LINES,
    Discrepancy,
    DiscrepancyKind,
    LineKind,
    MatchStatus,
    Resolution,
    SettlementLine,
)
from .services import unmatched_webhooks_replay

R, ADJ, WO = AccountKind.RECEIVABLE, AccountKind.ADJUSTMENTS, AccountKind.WRITE_OFFS


def discrepancy_residual(discrepancy: Discrepancy) -> int:
    """What this discrepancy leaves in the gateway receivable: positive when we booked more than
    the gateway settled (money we are still owed), negative when the gateway settled money our
    books do not hold."""
    kind, ours, theirs = discrepancy.kind, discrepancy.our_amount or 0, discrepancy.gateway_amount or 0
    line_kind = discrepancy.line.kind if discrepancy.line is not None else None
    money_back = line_kind in MONEY_BACK_LINES  # a refund or returned debit: the sign turns
    if kind == DiscrepancyKind.AMOUNT_MISMATCH:
        return theirs - ours if money_back else ours - theirs
    if kind == DiscrepancyKind.MISSING_AT_GATEWAY:
        return (
            -ours
            if discrepancy.refund_id
            or (discrepancy.entry and discrepancy.entry.kind in {EntryKind.REFUND, EntryKind.RETURN})
            else ours
        )
    if kind == DiscrepancyKind.DUPLICATE:
        return theirs if money_back else -theirs
    if kind in {DiscrepancyKind.MISSING_ON_OUR_SIDE, DiscrepancyKind.STATUS_MISMATCH}:
        if line_kind == LineKind.CHARGE:
            return -theirs
        if money_back:
            return theirs
        return 0  # an adjustment line: the settlement did not count it
    return 0  # currency mismatches are settled in two currencies, see _accept_currency


def _lock_open(discrepancy: Discrepancy, *, status: str = Discrepancy.Status.OPEN) -> Discrepancy:
    locked = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("line", "entry", "gateway_account")
        .get(pk=discrepancy.pk)
    )
    if locked.status != status:
        raise DiscrepancyStateError(f"The discrepancy is {locked.get_status_display().lower()}.")
    return locked


def _adjustment(
    d: Discrepancy, residual: int, *, kind: str = EntryKind.ADJUSTMENT, to: str = ADJ, memo: str
) -> JournalEntry:
    """Take `residual` out of the receivable against `to` (adjustments or write-offs)."""
    return ledger_post(
        EntrySpec(
            gateway_account_id=d.gateway_account_id,
            kind=kind,
            currency=d.currency,
            amount=abs(residual),
            lines=((to, residual), (R, -residual)),
            payment_id=d.payment_id,
            refund_id=d.refund_id,
            gateway_transaction_id=d.gateway_transaction_id,
            source=f"discrepancy:{d.public_id}",
            memo=memo,
        )
    )


def _close(
    d: Discrepancy,
    *,
    resolution: str,
    user: User | None,
    actor: Actor,
    note: str,
    entry: JournalEntry | None,
    amount: int | None = None,
) -> Discrepancy:
    d.status, d.resolution, d.resolution_note = Discrepancy.Status.RESOLVED, resolution, note[:255]
    d.resolution_entry, d.resolution_amount, d.resolved_at = entry, amount, timezone.now()
    if d.requested_by_id is None and user is not None:
        d.requested_by, d.requested_at = user, d.resolved_at
    d.save()
    audit_record(
        actor=actor,
        action="discrepancy.resolved",
        target=d,
        merchant_id=d.gateway_account.merchant_id,
        after={"resolution": resolution, "amount": amount, "note": note, "entry": entry.public_id if entry else None},
    )
    return d


def discrepancy_assign(*, discrepancy: Discrepancy, assignee: User | None, actor: Actor) -> Discrepancy:
    with transaction.atomic():
        locked = Discrepancy.objects.select_for_update().select_related("gateway_account").get(pk=discrepancy.pk)
        before = {"assignee": locked.assignee.get_username() if locked.assignee else None}
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        audit_record(
            actor=actor, action="discrepancy.assigned", target=locked, merchant_id=locked.gateway_account.merchant_id,
            before=before, after={"assignee": assignee.get_username() if assignee else None},
        )  # fmt: skip
    return locked


def discrepancy_resolve(*, discrepancy: Discrepancy, resolution: str, user: User, note: str = "") -> Discrepancy:
    """Apply a resolution. Every one posts to the ledger (except a write-off, which waits for a
    second person's approval) and is audited, in one transaction with the discrepancy's lock."""
    if not user.has_perm("reconciliation.resolve_discrepancy"):
        raise ResolutionNotAllowed()
    actor = Actor.staff(user)
    if resolution == Resolution.CREATE_PAYMENT:
        return _create_payment(discrepancy, user=user, actor=actor, note=note)
    with transaction.atomic():
        d = _lock_open(discrepancy)
        if resolution == Resolution.WRITE_OFF:
            return _request_write_off(d, user=user, actor=actor, note=note)
        if resolution == Resolution.ACCEPT_GATEWAY:
            return _accept_gateway(d, user=user, actor=actor, note=note)
        if resolution == Resolution.ADJUST_OURS:
            return _adjust_ours(d, user=user, actor=actor, note=note)
    raise ReconciliationError(f"Unknown resolution {resolution!r}.")


def _accept_gateway(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """The gateway's figure stands: book the difference, so the receivable holds nothing for it."""
    if d.kind == DiscrepancyKind.CURRENCY_MISMATCH:
        return _accept_currency(d, user=user, actor=actor, note=note)
    if d.kind == DiscrepancyKind.BATCH_TOTALS:
        # The gateway's report disagrees with itself; our ledger follows its lines: nothing to book.
        return _close(d, resolution=Resolution.ACCEPT_GATEWAY, user=user, actor=actor, note=note, entry=None)
    residual = discrepancy_residual(d)
    if residual == 0:
        raise ReconciliationError(
            "Nothing to book: this line moved no money in the settlement. Adjust our record instead."
        )
    entry = _adjustment(d, residual, memo=f"{d.get_kind_display()}: gateway's figure accepted")
    return _close(
        d, resolution=Resolution.ACCEPT_GATEWAY, user=user, actor=actor, note=note, entry=entry, amount=residual
    )


def _accept_currency(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """Our movement was booked in one currency and settled in another: clear ours from the
    receivable in our currency and what arrived in the gateway's, both against adjustments."""
    ours, line = d.entry, d.line
    if ours is None or line is None:
        raise ReconciliationError("A currency mismatch needs both our entry and the gateway's line.")
    sign = 1 if line.kind == LineKind.CHARGE else -1
    common: dict[str, Any] = {
        "gateway_account_id": d.gateway_account_id,
        "kind": EntryKind.ADJUSTMENT,
        "payment_id": d.payment_id,
        "gateway_transaction_id": d.gateway_transaction_id,
        "source": f"discrepancy:{d.public_id}",
    }
    ours_out, theirs_in = sign * ours.amount, sign * line.amount
    first, _ = ledger_post_many(
        [
            EntrySpec(
                currency=ours.currency,
                amount=ours.amount,
                lines=((ADJ, ours_out), (R, -ours_out)),
                memo="booked in our currency",
                **common,
            ),
            EntrySpec(
                currency=line.currency,
                amount=line.amount,
                lines=((R, theirs_in), (ADJ, -theirs_in)),
                memo="settled in the gateway's currency",
                **common,
            ),
        ]
    )
    return _close(d, resolution=Resolution.ACCEPT_GATEWAY, user=user, actor=actor, note=note, entry=first, amount=None)


def _adjust_ours(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """Our record was wrong: correct the payment or refund to what the gateway settled; the
    ledger follows through the payment's own entries."""
    line = d.line
    if d.kind == DiscrepancyKind.AMOUNT_MISMATCH and line is not None and line.kind == LineKind.CHARGE and d.payment_id:
        # Locked before reading: the target is relative to what is captured now.
        payment = Payment.objects.select_for_update(of=("self",)).get(pk=d.payment_id)
        target = payment.amount_captured + (line.amount - (d.our_amount or 0))
        payment_adjust_captured(
            payment=payment, amount=target, reason=f"settled for {line.amount} ({d.public_id})", actor=actor
        )
    elif d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and d.refund_id:
        refund_adopt_gateway_success(refund=d.refund, gateway_transaction_id=line.gateway_transaction_id, actor=actor)  # type: ignore[arg-type]
    elif (
        d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and line.kind == LineKind.CHARGE and d.payment_id
    ):
        payment_adopt_gateway_capture(
            payment=Payment.objects.get(pk=d.payment_id),
            amount=line.amount,
            gateway_transaction_id=line.gateway_transaction_id,
            actor=actor,
        )
    elif d.kind == DiscrepancyKind.MISSING_AT_GATEWAY and d.refund_id:
        refund_mark_not_settled(refund=d.refund, reason=f"not in the gateway's settlement ({d.public_id})", actor=actor)  # type: ignore[arg-type]
    elif d.kind == DiscrepancyKind.MISSING_AT_GATEWAY and d.payment_id:
        payment = Payment.objects.get(pk=d.payment_id)
        payment_adjust_captured(
            payment=payment,
            amount=payment.amount_captured - (d.our_amount or 0),
            reason=f"never settled ({d.public_id})",
            actor=actor,
        )
    else:
        raise ReconciliationError(
            f"Our record cannot be adjusted for a {d.get_kind_display().lower()}; "
            "accept the gateway's view or write it off."
        )
    entry = JournalEntry.objects.filter(payment=d.payment).order_by("-pk").first() if d.payment_id else None
    if d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and entry is not None:
        # The refund or capture now on our books is what the line settled: link them, so later
        # runs do not report that entry as missing at the gateway.
        SettlementLine.objects.filter(pk=line.pk, entry__isnull=True).update(
            entry=entry, matched_by="resolution", match_status=MatchStatus.MATCHED
        )
    return _close(
        d,
        resolution=Resolution.ADJUST_OURS,
        user=user,
        actor=actor,
        note=note,
        entry=entry,
        amount=discrepancy_residual(d),
    )


def _create_payment(discrepancy: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """A charge the gateway settled that we never recorded: ask the gateway for its full record
    (getTransactionDetails; no transaction open), then record it as a captured payment."""
    d = Discrepancy.objects.select_related("line", "gateway_account").get(pk=discrepancy.pk)
    if d.kind not in {DiscrepancyKind.MISSING_ON_OUR_SIDE} or d.line is None or d.line.kind != LineKind.CHARGE:
        raise ReconciliationError(
            "A payment can only be created for a charge the gateway settled that we never recorded."
        )
    line = d.line
    try:
        details = gateway_for(d.gateway_account).fetch_transaction(line.gateway_transaction_id)
    except GatewayNotFound as exc:
        raise ReconciliationError(
            "The gateway has no record of this transaction: no payment can be recorded from it."
        ) from exc
    except GatewayError as exc:
        raise ReconciliationError(
            f"The gateway could not be asked about this transaction ({exc.message}); nothing changed. Try again."
        ) from exc
    with transaction.atomic():
        d = _lock_open(discrepancy)
        payment = payment_record_gateway_charge(
            account=d.gateway_account,
            customer=None,
            details=details,
            call_reference=f"rc{d.line_id}"[:20],
            description=f"Recorded from settlement ({d.public_id})",
            metadata={"discrepancy": d.public_id},
            actor=actor,
        )
        entry = JournalEntry.objects.filter(payment=payment, kind=EntryKind.CAPTURE).order_by("-pk").first()
        d.payment = payment
        agrees = entry is not None and (entry.amount, entry.currency) == (line.amount, line.currency)
        # A line that does not agree with what was recorded stays open, linked: the next run opens
        # its amount (or currency) mismatch instead of calling it matched.
        SettlementLine.objects.filter(pk=line.pk).update(
            entry=entry, matched_by="created", match_status=MatchStatus.MATCHED if agrees else MatchStatus.UNMATCHED
        )
        closed = _close(
            d,
            resolution=Resolution.CREATE_PAYMENT,
            user=user,
            actor=actor,
            note=note,
            entry=entry,
            amount=payment.amount_captured,
        )
    unmatched_webhooks_replay(account=d.gateway_account, actor=actor, transaction_id=details.transaction_id)
    return closed


def _request_write_off(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    residual = discrepancy_residual(d)
    if residual <= 0:
        raise ReconciliationError(
            "Only money we are owed and did not receive can be written off; accept the gateway's view instead."
        )
    d.status, d.resolution, d.resolution_amount = Discrepancy.Status.PENDING_APPROVAL, Resolution.WRITE_OFF, residual
    d.requested_by, d.requested_at, d.resolution_note = user, timezone.now(), note[:255]
    d.save()
    audit_record(
        actor=actor, action="discrepancy.writeoff_requested", target=d, merchant_id=d.gateway_account.merchant_id,
        after={"amount": residual, "currency": d.currency, "note": note},
    )  # fmt: skip
    return d


def discrepancy_approve_write_off(*, discrepancy: Discrepancy, approver: User, note: str = "") -> Discrepancy:
    """A second person approves the write-off: the residual leaves the receivable for write-offs."""
    if not approver.has_perm("reconciliation.approve_writeoff"):
        raise ResolutionNotAllowed("You may not approve write-offs.")
    actor = Actor.staff(approver)
    try:
        with transaction.atomic():
            d = _lock_open(discrepancy, status=Discrepancy.Status.PENDING_APPROVAL)
            if d.requested_by_id == approver.pk:
                raise SelfApprovalRefused("A write-off needs an approver other than the person who asked for it.")
            if _settled_since(d):
                raise DiscrepancyStateError(
                    "The gateway has settled this movement since the write-off was asked for: nothing is lost."
                    " The next reconciliation closes it as settled late."
                )
            amount = d.resolution_amount or 0
            entry = _adjustment(d, amount, kind=EntryKind.WRITE_OFF, to=WO, memo=f"write-off {d.public_id}")
            d.approved_by = approver
            audit_record(
                actor=actor, action="discrepancy.writeoff_approved", target=d,
                merchant_id=d.gateway_account.merchant_id,
                after={
                    "approver": approver.get_username(), "requested_by": d.requested_by_id, "amount": amount,
                    "currency": d.currency, "entry": entry.public_id, "note": note,
                },
            )  # fmt: skip
            return _close(
                d,
                resolution=Resolution.WRITE_OFF,
                user=approver,
                actor=actor,
                note=note or d.resolution_note,
                entry=entry,
                amount=amount,
            )
    except SelfApprovalRefused as refused:
        # The refusal rolled its transaction back; the attempt is kept in a transaction of its own.
        # `d` is the row as read under the lock, unchanged before the refusal.
        audit_record_atomic(
            actor=actor, action="discrepancy.writeoff_approval_refused", target=d,
            merchant_id=d.gateway_account.merchant_id,
            after={"reason": refused.message, "amount": d.resolution_amount, "currency": d.currency, "note": note},
        )  # fmt: skip
        raise


def _settled_since(d: Discrepancy) -> bool:
    """A movement reported missing at the gateway that a settlement line has matched since."""
    return (
        d.kind == DiscrepancyKind.MISSING_AT_GATEWAY
        and d.entry_id is not None
        and SettlementLine.objects.filter(entry_id=d.entry_id, match_status=MatchStatus.MATCHED).exists()
    )


def discrepancy_reject_write_off(*, discrepancy: Discrepancy, approver: User, note: str = "") -> Discrepancy:
    if not approver.has_perm("reconciliation.approve_writeoff"):
        raise ResolutionNotAllowed("You may not decide on write-offs.")
    with transaction.atomic():
        d = _lock_open(discrepancy, status=Discrepancy.Status.PENDING_APPROVAL)
        d.status, d.resolution, d.resolution_amount = Discrepancy.Status.OPEN, "", None
        d.save()
        audit_record(
            actor=Actor.staff(approver), action="discrepancy.writeoff_rejected", target=d,
            merchant_id=d.gateway_account.merchant_id, after={"note": note},
        )  # fmt: skip
    return d
