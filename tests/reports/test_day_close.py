"""Closing the day in the admin: a day's figures per gateway account, closing it once (Finance
approvers only, audited), and changes made to a closed day flagged on its page."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.money import format_amount
from apps.ledger.models import AccountKind, EntryKind
from apps.ledger.services import EntrySpec, ledger_post
from apps.payments.models import Payment, Refund
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine
from apps.reconciliation.tasks import reconcile_account
from apps.reports.day_close_selectors import day_figures
from apps.reports.errors import DayAlreadyClosed, DayCloseInvalid, DayCloseNotAllowed
from apps.reports.models import DayClose
from apps.reports.services import day_close
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.factories import GatewayAccountFactory
from tests.payments.helpers import purchase, settle

SYSTEM = Actor.system("tests")


def yesterday():
    return timezone.now().date() - timedelta(days=1)


def page_url(account, day) -> str:
    return f"/admin/day-close/{account.public_id}/{day.isoformat()}/"


def move_to_yesterday() -> None:
    """Given state: what the test made today happened yesterday (only a past day can be closed).
    Ledger entries are append-only and keep today's date, so the day's captures and refunds (the
    day close reads them from the ledger) are today's."""
    Payment.objects.update(created_at=F("created_at") - timedelta(days=1))
    Refund.objects.update(created_at=F("created_at") - timedelta(days=1))
    SettlementBatch.objects.update(settled_at=F("settled_at") - timedelta(days=1))


@pytest.fixture
def busy_day(api, anet_account, anet_sandbox):
    """Yesterday: a 45.00 USD purchase, a 5.00 USD refund, two settled batches (one with a charge
    we never saw: an open discrepancy) and one settlement line left unmatched."""
    payment = purchase(api, 4500).json()
    settle(anet_sandbox)
    reconcile_account(anet_account.pk, timezone.now().date().isoformat())
    assert api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 500}, format="json").status_code < 300
    anet_settlement_discrepancy(account=anet_sandbox, kind="unknown", amount=4200, actor=SYSTEM)
    settle(anet_sandbox)
    reconcile_account(anet_account.pk, timezone.now().date().isoformat())
    # A line nothing has matched yet (matching normally leaves these for lines too fresh to match).
    SettlementLine.objects.filter(kind="refund").update(match_status=MatchStatus.UNMATCHED, entry=None, matched_by="")
    move_to_yesterday()
    return yesterday()


def no_bare_minor_units(html: str, *amounts: int) -> None:
    for amount in amounts:
        assert not re.search(rf"(?<![\w.,#]){amount}(?![\w.,])", html), amount


def test_the_day_page_shows_the_figures_with_links_to_what_is_open(busy_day, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)

    page = staff.get(page_url(anet_account, busy_day))

    assert page.status_code == 200
    html = page.content.decode()
    batches = SettlementBatch.objects.aggregate(
        charges=Sum("charges_amount"),
        refunds=Sum("refunds_amount"),
        fees=Sum("fees_amount"),
        payout=Sum("payout_amount"),
    )
    settled = batches["charges"] - batches["refunds"]
    today = staff.get(page_url(anet_account, timezone.now().date())).content.decode()
    for page_html, label, amount in (
        (today, "Captured", 4500),
        (today, "Refunded", 500),
        (html, "Settled (net of refunds and returns)", settled),
        (html, "Fees and tax", batches["fees"]),
        (html, "Payout", batches["payout"]),
    ):
        shown = re.escape(format_amount(amount, "USD"))
        assert re.search(rf"<dt>{re.escape(label)}</dt>\s*<dd>{shown}</dd>", page_html), label
    assert re.search(r"<dt>Captured</dt>\s*<dd>—</dd>", html)  # the ledger has the capture today
    no_bare_minor_units(html, 4500, 500, settled, batches["payout"])
    no_bare_minor_units(today, 4500, 500)
    assert 'value="Close day"' not in html  # a viewer sees no close form
    links = dict(
        re.findall(r'<dt>(Unmatched settlement lines|Open discrepancies)</dt>\s*<dd><a href="([^"]+)">1</a>', html)
    )
    unmatched = staff.get(links["Unmatched settlement lines"].replace("&amp;", "&"))
    open_discrepancies = staff.get(links["Open discrepancies"].replace("&amp;", "&"))
    assert SettlementLine.objects.get(kind="refund").gateway_transaction_id in unmatched.content.decode()
    assert Discrepancy.objects.get().public_id in open_discrepancies.content.decode()
    for label in ("Payments of the day", "Settlement batches of the day"):
        href = re.search(rf'<a href="([^"]+)">{label}</a>', html).group(1).replace("&amp;", "&")
        listed = staff.get(href)
        assert listed.status_code == 200
        assert "?e=1" not in listed.get("Location", "")


def test_an_approver_closes_the_day_once(busy_day, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_APPROVER)
    assert 'value="Close day"' in staff.get(page_url(anet_account, busy_day)).content.decode()

    closed = staff.post(page_url(anet_account, busy_day), {"note": "checked", "confirm": "on"}, follow=True)

    close = DayClose.objects.get()
    assert (close.gateway_account, close.day, close.closed_by, close.note) == (
        anet_account,
        busy_day,
        staff.user,
        "checked",
    )
    assert close.figures == day_figures(account_id=anet_account.pk, day=busy_day)
    assert close.figures["counts"]["batches"] == 2
    assert close.carried_forward == {
        "discrepancies": [Discrepancy.objects.get().public_id],
        "unmatched_lines": [SettlementLine.objects.get(kind="refund").pk],
    }
    event = AuditEvent.objects.get(action="day.closed")
    assert (event.actor_id, event.after["day"]) == (str(staff.user.pk), busy_day.isoformat())
    html = closed.content.decode()
    assert "is closed for" in html and "Nothing has changed since closing." in html
    assert 'value="Close day"' not in html

    again = staff.post(page_url(anet_account, busy_day), {"note": "twice", "confirm": "on"}, follow=True)

    assert again.status_code == 200
    assert "is already closed for" in again.content.decode()
    assert DayClose.objects.count() == 1
    assert AuditEvent.objects.filter(action="day.closed").count() == 1
    with pytest.raises(DayAlreadyClosed):
        day_close(account=anet_account, day=busy_day, user=staff.user, actor=SYSTEM)
    listing = staff.get("/admin/day-close/").content.decode()
    assert "Closed" in listing and staff.user.get_username() in listing


def test_an_operator_cannot_close_a_day(busy_day, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)
    assert 'value="Close day"' not in staff.get(page_url(anet_account, busy_day)).content.decode()

    refused = staff.post(page_url(anet_account, busy_day), {"confirm": "on"})

    assert refused.status_code == 403
    with pytest.raises(DayCloseNotAllowed):
        day_close(account=anet_account, day=busy_day, user=staff.user, actor=SYSTEM)
    assert not DayClose.objects.exists()
    assert not AuditEvent.objects.filter(action="day.closed").exists()


def test_a_day_that_has_not_ended_or_an_unconfirmed_close_is_refused(db, staff_client):
    account = GatewayAccountFactory()
    staff = staff_client(roles.FINANCE_APPROVER)
    today = timezone.now().date()

    with pytest.raises(DayCloseInvalid):
        day_close(account=account, day=today, user=staff.user, actor=SYSTEM)
    page = staff.get(page_url(account, today)).content.decode()
    refused = staff.post(page_url(account, today), {"confirm": "on"}, follow=True)
    unconfirmed = staff.post(page_url(account, yesterday()), {"note": "no tick"})

    assert "has not ended yet" in page and 'value="Close day"' not in page
    assert "has not ended yet" in refused.content.decode()
    assert unconfirmed.status_code == 200 and "This field is required" in unconfirmed.content.decode()
    assert not DayClose.objects.exists()


def test_changes_after_closing_are_flagged(busy_day, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_APPROVER)
    staff.post(page_url(anet_account, busy_day), {"confirm": "on"})
    # A late capture dated that day, and a correction posted to the ledger for that day.
    with transaction.atomic():
        capture, late = [
            ledger_post(
                EntrySpec(
                    gateway_account_id=anet_account.pk, kind=kind, currency="USD", amount=amount,
                    lines=((account, -amount), (AccountKind.RECEIVABLE, amount)), memo=memo,
                    occurred_at=datetime.combine(busy_day, time(12), tzinfo=UTC),
                )
            )
            for kind, account, amount, memo in (
                (EntryKind.CAPTURE, AccountKind.SALES, 1000, "late capture"),
                (EntryKind.ADJUSTMENT, AccountKind.ADJUSTMENTS, 300, "late correction"),
            )
        ]  # fmt: skip

    html = staff.get(page_url(anet_account, busy_day)).content.decode()

    assert "Changed since closing: captured was 0.00 USD, now 10.00 USD" in html
    assert "Changed since closing: captures was 0, now 1" in html
    assert capture.public_id in html and late.public_id in html and "3.00 USD" in html
    no_bare_minor_units(html, 1000, 300)
    assert DayClose.objects.get().figures["money"]["captured"] == {}  # what was stored stays


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "20260101", "2026-W01-1", "9999-12-31", "future"])
def test_bad_days_in_the_address_are_not_found(db, staff_client, day):
    account = GatewayAccountFactory()
    if day == "future":
        day = (timezone.now().date() + timedelta(days=1)).isoformat()

    response = staff_client(roles.FINANCE_APPROVER).post(
        f"/admin/day-close/{account.public_id}/{day}/", {"confirm": "on"}
    )

    assert response.status_code == 404
    assert not DayClose.objects.exists()


def test_an_unknown_account_is_not_found_and_the_pages_need_the_view_permission(db, staff_client):
    assert staff_client(roles.AUDITOR).get(f"/admin/day-close/gwa_nope/{yesterday()}/").status_code == 404
    assert staff_client(roles.AUDITOR).get("/admin/day-close/").status_code == 200
    assert staff_client(roles.OPS).get("/admin/day-close/").status_code == 403
    account = GatewayAccountFactory()
    assert staff_client(roles.OPS).get(page_url(account, yesterday())).status_code == 403


def test_the_list_shows_the_last_30_days_of_active_accounts(db, staff_client):
    active, inactive = GatewayAccountFactory(), GatewayAccountFactory(is_active=False)
    staff = staff_client(roles.FINANCE_VIEWER)

    html = staff.get("/admin/day-close/").content.decode()

    assert html.count(f"/admin/day-close/{active.public_id}/") == 30
    assert inactive.public_id not in html
    assert "Close the day" in staff.get("/admin/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_approvers_closing_at_once_close_the_day_once():
    account = GatewayAccountFactory()
    approvers = [StaffUserFactory(roles=[roles.FINANCE_APPROVER]) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close(user) -> None:
        try:
            barrier.wait()
            day_close(account=account, day=yesterday(), user=user, actor=Actor.staff(user))
            outcomes.append("closed")
        except DayAlreadyClosed:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["closed", "refused"]
    assert DayClose.objects.count() == 1
    assert AuditEvent.objects.filter(action="day.closed").count() == 1
