"""Maker-checker on refunds: an approver's attempt to approve their own request is refused, and the
refusal is kept in the audit trail although nothing else changes."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.ledger.models import JournalEntry
from apps.payments.errors import ApprovalNotAllowed, PaymentStateError
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.payments.services import refund_approve, refund_create
from tests.accounts.factories import StaffUserFactory
from tests.factories import PaymentFactory

# Transactional: the refusal's audit row must commit on its own, with no test transaction around it.
pytestmark = pytest.mark.django_db(transaction=True)


def state(payment: Payment, refund: Refund) -> tuple[object, ...]:
    return (
        model_to_dict(Payment.objects.get(pk=payment.pk)),
        model_to_dict(Refund.objects.get(pk=refund.pk)),
        GatewayTransaction.objects.count(),
        JournalEntry.objects.count(),
    )


def test_an_approver_approving_their_own_refund_is_refused_and_audited(settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    payment = PaymentFactory(amount=1000, captured=True)
    refund = refund_create(
        payment=payment, amount=800, reason="big", actor=Actor.staff(approver), requested_by_user=approver
    )
    assert refund.status == "pending_approval"
    before, last_event = state(payment, refund), AuditEvent.objects.latest("id").pk

    with pytest.raises(ApprovalNotAllowed, match="person who requested it"):
        refund_approve(refund=refund, approver=approver, note="mine")

    assert state(payment, refund) == before
    (event,) = AuditEvent.objects.filter(pk__gt=last_event)
    assert (event.action, event.target_type, event.target_id) == (
        "refund.approval_refused",
        "payments.refund",
        refund.public_id,
    )
    assert (event.actor_type, event.actor_id, event.merchant_id) == ("staff", str(approver.pk), payment.merchant_id)
    assert event.after == {
        "reason": "A refund cannot be approved by the person who requested it.",
        "amount": 800,
        "currency": "USD",
        "note": "mine",
    }


def test_a_refund_cannot_be_approved_once_its_payment_is_not_refundable(settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    operator = StaffUserFactory(roles=[roles.FINANCE_OPERATOR])
    payment = PaymentFactory(amount=1000, captured=True)
    refund = refund_create(
        payment=payment, amount=800, reason="big", actor=Actor.staff(operator), requested_by_user=operator
    )
    Payment.objects.filter(pk=payment.pk).update(status="returned")  # the money went back another way
    before = state(payment, refund)

    with pytest.raises(PaymentStateError, match="nothing to refund"):
        refund_approve(refund=refund, approver=StaffUserFactory(roles=[roles.FINANCE_APPROVER]))

    assert state(payment, refund) == before
