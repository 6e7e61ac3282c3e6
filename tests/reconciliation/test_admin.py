"""Finance staff work the discrepancy queue in the admin: filters, assignment, the resolve page
(each resolution's effect shown, then applied through the service), the write-off decision by a
second person, and CSV export of any filtered list."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.ledger.models import EntryKind, JournalEntry
from apps.payments.models import Payment
from apps.reconciliation.models import Discrepancy
from apps.reconciliation.services import reconcile
from apps.sandbox.services import anet_settlement_discrepancy
from tests.payments.helpers import VISA, purchase, settle

QUEUE = "/admin/reconciliation/discrepancy/"
SYSTEM = Actor.system("tests")


@pytest.fixture
def short_paid(api, anet_account, anet_sandbox):
    """A payment of 10.00 the gateway settled as 9.00: an open amount mismatch."""
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="amount", trans_id=payment.gateway_transaction_id, amount=900, actor=SYSTEM
    )
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    return Discrepancy.objects.get()


def test_the_queue_shows_open_discrepancies_with_their_age_and_filters(short_paid, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)

    page = staff.get(QUEUE)
    resolved_only = staff.get(QUEUE, {"status": "resolved"})
    young = staff.get(QUEUE, {"age": "1d", "assignee": "none", "kind": "amount_mismatch"})
    old = staff.get(QUEUE, {"age": "older"})

    assert page.status_code == 200
    for text in (short_paid.public_id, "Amount mismatch", "10.00 USD", "9.00 USD", "-1.00 USD", "Export CSV"):
        assert text.encode() in page.content
    assert short_paid.public_id.encode() not in resolved_only.content
    assert short_paid.public_id.encode() in young.content
    assert short_paid.public_id.encode() not in old.content
    detail = staff.get(f"{QUEUE}{short_paid.pk}/change/")
    assert detail.status_code == 200 and "Resolve…".encode() not in detail.content  # a viewer cannot resolve
    assert staff.get(f"{QUEUE}{short_paid.pk}/resolve/").status_code == 403


def test_an_operator_assigns_and_adjusts_our_record_from_the_resolve_page(short_paid, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)
    staff.post(QUEUE, {"action": "assign_to_me", ACTION_CHECKBOX_NAME: [short_paid.pk]})
    assert Discrepancy.objects.get().assignee == staff.user
    assert short_paid.public_id.encode() in staff.get(QUEUE, {"assignee": "me"}).content

    page = staff.get(f"{QUEUE}{short_paid.pk}/resolve/")
    assert page.status_code == 200
    for text in (b"Accept the gateway", b"Adjust our record", b"Write off", b"1.00 USD"):
        assert text in page.content
    assert b"Create the missing payment" not in page.content

    done = staff.post(
        f"{QUEUE}{short_paid.pk}/resolve/", {"resolution": "adjust_ours", "note": "amount fixed"}, follow=True
    )

    assert done.status_code == 200 and b"resolved" in done.content
    assert Discrepancy.objects.get().resolution == "adjust_ours"
    assert Payment.objects.get().amount_captured == 900
    assert AuditEvent.objects.filter(action="discrepancy.resolved", actor_id=str(staff.user.pk)).exists()


def test_a_write_off_requested_by_one_and_approved_by_another(short_paid, staff_client):
    operator = staff_client(roles.FINANCE_OPERATOR)
    operator.post(f"{QUEUE}{short_paid.pk}/resolve/", {"resolution": "write_off", "note": "short-paid"})
    assert Discrepancy.objects.get().status == "pending_approval"
    assert operator.get(f"{QUEUE}{short_paid.pk}/decide/").status_code == 403

    approver = staff_client(roles.FINANCE_APPROVER)
    detail = approver.get(f"{QUEUE}{short_paid.pk}/change/")
    assert b"Approve or reject write-off" in detail.content
    approver.post(f"{QUEUE}{short_paid.pk}/decide/", {"decision": "approve", "note": "ok"})

    d = Discrepancy.objects.get()
    assert (d.status, d.approved_by, d.resolution_amount) == ("resolved", approver.user, 100)
    assert JournalEntry.objects.filter(kind=EntryKind.WRITE_OFF, amount=100).exists()


def test_a_bad_resolution_is_refused_with_a_message_and_changes_nothing(short_paid, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = staff.post(f"{QUEUE}{short_paid.pk}/resolve/", {"resolution": "create_payment"})

    assert page.status_code == 200 and b"Select a valid choice" in page.content
    assert Discrepancy.objects.get().status == "open"


def test_csv_export_follows_the_filters_and_is_audited(short_paid, api, anet_account, staff_client):
    purchase(api, 2222)
    purchase(api, 3333, payment_method={**VISA, "billing_details": {"postal_code": "46282"}})  # declined
    staff = staff_client(roles.FINANCE_VIEWER)

    response = staff.get("/admin/payments/payment/export.csv", {"status__exact": "captured"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(rows) == 3  # header + the two captured payments, not the declined one
    assert any("22.22" in cell for row in rows for cell in row)
    assert not any("33.33" in cell for row in rows for cell in row)
    queue = staff.get(f"{QUEUE}export.csv", {"kind": "amount_mismatch"})
    queue_rows = list(csv.reader(io.StringIO(b"".join(queue.streaming_content).decode())))
    assert [row[0] for row in queue_rows[1:]] == [short_paid.public_id]
    assert AuditEvent.objects.filter(action="admin.exported").count() == 2
