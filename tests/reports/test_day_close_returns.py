"""The day close counts what customers' banks took back that day (ACH returns), as the ledger
records it, and reads closes stored before it did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from apps.accounts import roles
from apps.ledger.models import AccountKind, EntryKind, JournalEntry, Posting
from apps.reports.day_close_selectors import day_figures
from apps.reports.models import DayClose
from apps.reports.services import day_close
from tests.reports.helpers import SYSTEM, returned_by_the_bank, settled_bank_debit
from tests.reports.test_day_close import no_bare_minor_units, page_url


def yesterday():
    return timezone.now().date() - timedelta(days=1)


@pytest.fixture
def returned_yesterday(api, anet_account, anet_sandbox):
    """A 50.00 USD bank debit, settled, that the customer's bank returned yesterday."""
    payment = settled_bank_debit(api, anet_account, anet_sandbox, 5000)
    returned_by_the_bank(anet_account, anet_sandbox, payment, yesterday())
    return yesterday()


def ledger_sum(account, day, entry_kind, ledger_kind) -> int:
    """What the day's entries of one kind posted to one ledger account (debit positive)."""
    return Posting.objects.filter(
        entry__gateway_account=account,
        entry__kind=entry_kind,
        entry__occurred_at__date=day,
        account__kind=ledger_kind,
    ).aggregate(total=Sum("amount", default=0))["total"]


def test_a_return_is_in_the_figures_of_its_day_as_the_ledger_has_it(returned_yesterday, anet_account):
    day = returned_yesterday

    figures = day_figures(account_id=anet_account.pk, day=day)

    money, counts = figures["money"], figures["counts"]
    assert money["returned"] == {"USD": 5000} and counts["returns"] == 1
    returned = JournalEntry.objects.filter(gateway_account=anet_account, kind=EntryKind.RETURN, occurred_at__date=day)
    assert money["returned"]["USD"] == sum(entry.amount for entry in returned)
    assert money["returned"]["USD"] == ledger_sum(anet_account, day, EntryKind.RETURN, AccountKind.SALES)
    # The return's batch settled minus 50.00: what the settlement entries moved to clearing.
    assert money["settled"]["USD"] == -5000
    assert money["settled"]["USD"] == ledger_sum(anet_account, day, EntryKind.SETTLEMENT, AccountKind.CLEARING)
    assert money["fees"].get("USD", 0) == ledger_sum(anet_account, day, EntryKind.FEE, AccountKind.FEES)
    assert money["payout"]["USD"] == ledger_sum(anet_account, day, EntryKind.PAYOUT, AccountKind.BANK)
    assert money["settled"]["USD"] - money["fees"].get("USD", 0) == money["payout"]["USD"]
    assert (money["captured"], counts["captures"], counts["batches"]) == ({}, 0, 1)  # captured today


def test_the_day_page_and_the_close_show_the_return(returned_yesterday, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_APPROVER)

    staff.post(page_url(anet_account, returned_yesterday), {"confirm": "on"})
    html = staff.get(page_url(anet_account, returned_yesterday)).content.decode()

    close = DayClose.objects.get()
    assert close.figures["money"]["returned"] == {"USD": 5000} and close.figures["counts"]["returns"] == 1
    assert html.count("<dt>Bank debits returned</dt>\n    <dd>50.00 USD</dd>") == 2  # now and at closing
    assert html.count("<dt>Bank debit returns</dt><dd>1</dd>") == 2
    assert "<dt>Settled (net of refunds and returns)</dt>\n    <dd>-50.00 USD</dd>" in html
    assert "Nothing has changed since closing." in html
    no_bare_minor_units(html, 5000)


def test_a_close_stored_before_returns_were_counted_reads_them_as_0(returned_yesterday, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)
    close = day_close(
        account=anet_account, day=returned_yesterday, user=staff_client(roles.FINANCE_APPROVER).user, actor=SYSTEM
    )
    # As a close stored before: no returned figure nor count, settled net of refunds only.
    old = {
        "money": {name: amounts for name, amounts in close.figures["money"].items() if name != "returned"},
        "counts": {name: n for name, n in close.figures["counts"].items() if name != "returns"},
    }
    old["money"]["settled"] = {"USD": 0}
    DayClose.objects.filter(pk=close.pk).update(figures=old)

    page = staff.get(page_url(anet_account, returned_yesterday))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Changed since closing: bank debits returned was 0.00 USD, now 50.00 USD" in html
    assert "Changed since closing: bank debit returns was 0, now 1" in html
    assert "Changed since closing: settled (net of refunds and returns) was 0.00 USD, now -50.00 USD" in html
    assert "<dt>Bank debit returns</dt><dd>0</dd>" in html  # at closing
