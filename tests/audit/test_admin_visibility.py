"""Who reads which part of the audit trail in the admin: the Auditor all of it, a Finance approver
only the events of finance objects (payments, refunds, discrepancies and their write-offs,
settlement batches, journal entries), other roles none of it."""

from __future__ import annotations

import pytest

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record_atomic
from apps.ledger.models import AccountKind, EntryKind
from apps.ledger.services import EntrySpec, ledger_post
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db

AUDIT_LIST = "/admin/audit/auditevent/"
SYSTEM = Actor.system("tests")


@pytest.fixture
def trail(merchant, api_key):
    """Events of a payment and a journal entry (finance), an API key and a staff user (not)."""
    payment = PaymentFactory(merchant=merchant)
    entry = ledger_post(
        EntrySpec(
            gateway_account_id=payment.gateway_account_id,
            kind=EntryKind.ADJUSTMENT,
            currency="USD",
            amount=5,
            lines=((AccountKind.ADJUSTMENTS, 5), (AccountKind.RECEIVABLE, -5)),
        )
    )
    return {
        "payment": audit_record_atomic(actor=SYSTEM, action="payment.noted", target=payment),
        "entry": audit_record_atomic(actor=SYSTEM, action="journal_entry.noted", target=entry),
        "api_key": AuditEvent.objects.get(action="api_key.created", target_id=api_key.api_key.public_id),
    }


def test_an_approver_sees_the_events_of_finance_objects_only(trail, staff_client):
    approver = staff_client(roles.FINANCE_APPROVER)  # signing in writes a staff.login event

    page = approver.get(AUDIT_LIST)

    assert page.status_code == 200
    for event in (trail["payment"], trail["entry"]):
        assert event.action.encode() in page.content and event.target_id.encode() in page.content
    for hidden in ("api_key.created", trail["api_key"].target_id, "staff.login", "auth.user"):
        assert hidden.encode() not in page.content  # neither in the rows nor in the filters
    assert approver.get(f"{AUDIT_LIST}{trail['payment'].pk}/change/").status_code == 200
    outside = approver.get(f"{AUDIT_LIST}{trail['api_key'].pk}/change/")
    assert outside.status_code == 302 and outside.url == "/admin/"  # "does not exist", as for a missing row
    assert approver.get(AUDIT_LIST, {"q": trail["api_key"].target_id}).content.count(b"api_key.created") == 0


def test_the_auditor_sees_every_event(trail, staff_client):
    auditor = staff_client(roles.AUDITOR)

    page = auditor.get(AUDIT_LIST)

    for text in ("payment.noted", "journal_entry.noted", "api_key.created", "staff.login"):
        assert text.encode() in page.content
    assert auditor.get(f"{AUDIT_LIST}{trail['api_key'].pk}/change/").status_code == 200


@pytest.mark.parametrize("role", [roles.FINANCE_VIEWER, roles.FINANCE_OPERATOR, roles.OPS])
def test_other_roles_cannot_open_the_audit_trail(trail, staff_client, role):
    staff = staff_client(role)

    assert staff.get(AUDIT_LIST).status_code == 403
    assert staff.get(f"{AUDIT_LIST}{trail['payment'].pk}/change/").status_code == 403
