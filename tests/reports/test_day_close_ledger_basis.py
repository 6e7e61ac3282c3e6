"""The day close reads captured and refunded from the ledger, by the entries' date and under the
close's cut-off, as it reads returns: a capture or refund is in the figures of the day its entry
was posted, and every entry of a closed day is in the close's figures or recorded after it, once."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.services import EntrySpec, ledger_post
from apps.payments.models import Payment, Refund, RefundStatus
from apps.payments.services import refund_approve
from apps.reports.day_close_selectors import FigureChange, day_figures, entries_after_close, figures_changed
from apps.reports.models import DayClose
from apps.reports.services import day_close
from tests.accounts.factories import StaffUserFactory
from tests.factories import GatewayAccountFactory
from tests.payments.helpers import purchase, settle
from tests.reports.test_day_close import move_to_yesterday, page_url, yesterday

pytestmark = pytest.mark.django_db(transaction=True)


def close(account, day):
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    return day_close(account=account, day=day, user=approver, actor=Actor.staff(approver))


def test_a_refund_asked_for_on_a_closed_day_and_approved_the_next_is_in_the_next_days_refunded(
    api, anet_account, anet_sandbox, settings
):
    # Given: a 45.00 USD purchase (settled at the gateway) and a 5.00 USD refund of it waiting for
    # approval, both made on day D, and D closed.
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 100}
    payment = purchase(api, 4500).json()
    settle(anet_sandbox)
    asked = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 500}, format="json")
    assert asked.json()["status"] == RefundStatus.PENDING_APPROVAL
    move_to_yesterday()
    day, next_day = yesterday(), timezone.now().date()
    closed = close(anet_account, day)

    # When: it is approved (and sent) on D+1.
    refund = refund_approve(refund=Refund.objects.get(), approver=StaffUserFactory(roles=[roles.FINANCE_APPROVER]))

    # Then: it is D+1's refund, with its entry; D's closed figures stand and nothing was recorded
    # on D after its close.
    assert refund.status == RefundStatus.SUCCEEDED
    entry = JournalEntry.objects.get(kind=EntryKind.REFUND)
    assert (entry.refund_id, entry.occurred_at.date()) == (refund.pk, next_day)
    figures = day_figures(account_id=anet_account.pk, day=next_day)
    assert figures["money"]["refunded"] == {"USD": 500} and figures["counts"]["refunds"] == 1
    assert figures_changed(stored=closed.figures, current=day_figures(account_id=anet_account.pk, day=day)) == []
    assert closed.figures["money"]["refunded"] == {} and closed.figures["counts"]["refunds"] == 0
    assert list(entries_after_close(closed)) == []


def test_captures_and_a_void_the_day_after_the_authorisations_are_in_that_days_captured(api, anet_account):
    # Given: two authorisations (45.00 and 30.00 USD) made on day D, and D closed.
    first = purchase(api, 4500, capture=False).json()
    second = purchase(api, 3000, capture=False).json()
    move_to_yesterday()
    day, next_day = yesterday(), timezone.now().date()
    closed = close(anet_account, day)

    # When: on D+1 both are captured and the second is voided (before it settles).
    for payment in (first, second):
        assert api.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json").status_code == 200
    assert api.post(f"/api/v1/payments/{second['id']}/void").status_code == 200

    # Then: D+1's captured is the two captures less the void, as the payments now have it; D's
    # closed figures stand and nothing was recorded on D after its close.
    figures = day_figures(account_id=anet_account.pk, day=next_day)
    assert figures["money"]["captured"] == {"USD": 4500}
    assert (figures["counts"]["captures"], figures["counts"]["capture_reversals"]) == (2, 1)
    assert figures["money"]["captured"]["USD"] == Payment.objects.aggregate(total=Sum("amount_captured"))["total"]
    assert figures_changed(stored=closed.figures, current=day_figures(account_id=anet_account.pk, day=day)) == []
    assert closed.figures["money"]["captured"] == {} and closed.figures["counts"]["captures"] == 0
    assert list(entries_after_close(closed)) == []


@pytest.mark.sqlite
def test_an_entry_committed_after_the_close_is_listed_after_it_and_not_in_its_figures():
    account = GatewayAccountFactory()
    day = yesterday()
    lines = {
        EntryKind.CAPTURE: lambda amount: ((AccountKind.RECEIVABLE, amount), (AccountKind.SALES, -amount)),
        EntryKind.CAPTURE_REVERSAL: lambda amount: ((AccountKind.SALES, amount), (AccountKind.RECEIVABLE, -amount)),
        EntryKind.REFUND: lambda amount: ((AccountKind.REFUNDS, amount), (AccountKind.RECEIVABLE, -amount)),
    }

    def posted(kind: str, amount: int) -> JournalEntry:
        with transaction.atomic():
            return ledger_post(
                EntrySpec(
                    gateway_account_id=account.pk, kind=kind, currency="USD", amount=amount, lines=lines[kind](amount),
                    occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                )
            )  # fmt: skip

    # Given: a capture and a refund of day D posted before D is closed.
    posted(EntryKind.CAPTURE, 5000)
    posted(EntryKind.REFUND, 200)
    closed = close(account, day)

    # When: entries of D are committed after the close.
    late = [posted(EntryKind.CAPTURE, 300), posted(EntryKind.CAPTURE_REVERSAL, 100), posted(EntryKind.REFUND, 50)]

    # Then: the close's figures hold the entries before it, and only those; the later ones are
    # listed after it and change the day's figures now by exactly their amounts.
    assert closed.figures["money"]["captured"] == {"USD": 5000} and closed.figures["money"]["refunded"] == {"USD": 200}
    assert (closed.figures["counts"]["captures"], closed.figures["counts"]["refunds"]) == (1, 1)
    assert list(entries_after_close(closed)) == late
    assert day_figures(account_id=account.pk, day=day, last_entry_id=closed.last_entry_id) == closed.figures
    assert figures_changed(stored=closed.figures, current=day_figures(account_id=account.pk, day=day)) == [
        FigureChange("captured", "USD", 5000, 5000 + 300 - 100),
        FigureChange("refunded", "USD", 200, 200 + 50),
        FigureChange("captures", "", 1, 2),
        FigureChange("capture_reversals", "", 0, 1),
        FigureChange("refunds", "", 1, 2),
    ]


def test_a_close_stored_when_captured_was_by_payments_created_says_so(staff_client):
    account = GatewayAccountFactory()
    day = yesterday()
    with transaction.atomic():
        ledger_post(
            EntrySpec(
                gateway_account_id=account.pk, kind=EntryKind.CAPTURE, currency="USD", amount=4500,
                lines=((AccountKind.RECEIVABLE, 4500), (AccountKind.SALES, -4500)),
                occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
            )
        )  # fmt: skip
    closed = close(account, day)
    # As a close stored before: payments created that day counted, no capture counts.
    old = {
        "money": closed.figures["money"],
        "counts": {"payments": 2, "refunds": 0, "returns": 0, "batches": 0},
    }
    DayClose.objects.filter(pk=closed.pk).update(figures=old)

    html = staff_client(roles.FINANCE_VIEWER).get(page_url(account, day)).content.decode()

    assert "captured and refunded were taken from the payments and refunds" in html
    assert "<dt>Payments created</dt><dd>2</dd>" in html  # at closing
    # Nothing was recorded after the close: its figures read another way are not "changes".
    assert "Changed since closing" not in html
