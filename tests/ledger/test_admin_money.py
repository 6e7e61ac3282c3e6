"""Finance staff see a journal entry's amount as money in the admin, in the currency's own
decimals (USD 2, JPY 0, KWD 3), never as bare minor units."""

from __future__ import annotations

import pytest

from apps.accounts import roles
from apps.ledger.models import EntryKind, JournalEntry
from tests.factories import PaymentFactory
from tests.helpers import assert_shows_money

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("currency", "shown"), [("USD", "45.00 USD"), ("JPY", "4,500 JPY"), ("KWD", "4.500 KWD")])
def test_the_journal_entry_page_and_list_show_the_amount_as_money(currency, shown, staff_client):
    payment = PaymentFactory(amount=4500, currency=currency, captured=True)
    entry = JournalEntry.objects.get(payment=payment, kind=EntryKind.CAPTURE)
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(f"/admin/ledger/journalentry/{entry.pk}/change/")
    listing = viewer.get("/admin/ledger/journalentry/")
    accounts = viewer.get("/admin/ledger/ledgeraccount/")

    assert page.status_code == 200
    assert_shows_money(page.content, shown=[shown], bare=[4500])
    assert_shows_money(listing.content, shown=[shown], bare=[4500])
    assert_shows_money(accounts.content, shown=[shown], bare=[4500])
