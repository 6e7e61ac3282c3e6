"""Finance staff read the ledger in the admin: a journal entry's postings (debit and credit per
account, as money), and an account's postings with a running balance, in a fixed number of
queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import roles
from apps.ledger import admin as ledger_admin
from apps.ledger.models import AccountKind, EntryKind, JournalEntry, LedgerAccount
from apps.ledger.services import EntrySpec, ledger_post
from tests.factories import GatewayAccountFactory

pytestmark = pytest.mark.django_db

R, S, FEES, BANK = AccountKind.RECEIVABLE, AccountKind.SALES, AccountKind.FEES, AccountKind.BANK


@pytest.fixture
def gateway_account():
    return GatewayAccountFactory()


def post(gateway_account, *lines: tuple[str, int], memo: str = "") -> JournalEntry:
    amount = sum(value for _, value in lines if value > 0)
    spec = EntrySpec(
        gateway_account_id=gateway_account.pk,
        kind=EntryKind.ADJUSTMENT,
        currency="USD",
        amount=amount,
        lines=tuple(lines),
        memo=memo,
    )
    return ledger_post(spec)


def entry_url(entry: JournalEntry) -> str:
    return f"/admin/ledger/journalentry/{entry.pk}/change/"


def account_url(gateway_account, kind: str) -> str:
    account = LedgerAccount.objects.get(gateway_account=gateway_account, kind=kind, currency="USD")
    return f"/admin/ledger/ledgeraccount/{account.pk}/change/"


def page_queries(client, url: str) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content


@pytest.mark.parametrize("role", [roles.FINANCE_VIEWER, roles.FINANCE_APPROVER, roles.FINANCE_OPERATOR, roles.AUDITOR])
def test_finance_roles_see_an_entrys_postings_as_money(role, gateway_account, staff_client):
    entry = post(gateway_account, (R, 123456), (S, -123456), memo="a sale")
    staff = staff_client(role)

    page = staff.get(entry_url(entry))

    assert page.status_code == 200
    assert staff.user.has_perm("ledger.view_posting")
    for text in ("Gateway receivable", "Sales", "1,234.56 USD", "Postings"):
        assert text.encode() in page.content
    assert b">123456<" not in page.content and b">-123456<" not in page.content  # never bare minor units


def test_an_entrys_page_reads_its_postings_in_a_fixed_number_of_queries(gateway_account, staff_client):
    small = post(gateway_account, (R, 100), (S, -100))
    large = post(gateway_account, (R, 1000), (FEES, 30), (BANK, 20), (S, -1050))
    staff = staff_client(roles.FINANCE_VIEWER)
    staff.get(entry_url(small))  # warm the session and content types

    small_queries, _ = page_queries(staff, entry_url(small))
    large_queries, content = page_queries(staff, entry_url(large))

    assert small_queries == large_queries
    assert b"10.50 USD" in content and b"0.30 USD" in content


def test_an_accounts_page_shows_its_postings_with_a_running_balance(gateway_account, staff_client):
    first = post(gateway_account, (R, 1000), (S, -1000), memo="first sale")
    post(gateway_account, (R, 250), (S, -250), memo="second sale")
    post(gateway_account, (S, 300), (R, -300), memo="reversal")
    staff = staff_client(roles.FINANCE_VIEWER)

    receivable = staff.get(account_url(gateway_account, R)).content.decode()
    sales = staff.get(account_url(gateway_account, S)).content.decode()

    # Receivable (debit normal): 10.00, then 12.50, then 9.50, newest last.
    assert receivable.index("first sale") < receivable.index("second sale") < receivable.index("reversal")
    for text in ("10.00 USD", "12.50 USD", "3.00 USD", "9.50 USD", first.public_id, "balance (normal side)"):
        assert text in receivable
    assert f"/admin/ledger/journalentry/{first.pk}/change/" in receivable
    # Sales (credit normal) read positive on their own side.
    assert "9.50 USD" in sales and "-9.50 USD" not in sales
    assert "The last" not in receivable  # everything fits


def test_an_accounts_page_shows_the_latest_postings_and_carries_the_balance_before_them(
    gateway_account, staff_client, monkeypatch
):
    monkeypatch.setattr(ledger_admin, "STATEMENT_LINES", 2)
    for amount, memo in ((1000, "memo-oldest"), (200, "memo-middle"), (30, "memo-newer"), (4, "memo-newest")):
        post(gateway_account, (R, amount), (S, -amount), memo=memo)
    staff = staff_client(roles.FINANCE_APPROVER)

    page = staff.get(account_url(gateway_account, R)).content.decode()

    assert "memo-oldest" not in page and "memo-middle" not in page
    assert page.index("memo-newer") < page.index("memo-newest")
    assert "The last 2 postings, newest last; the balance before them was 12.00 USD." in page
    assert "12.30 USD" in page and "12.34 USD" in page


def test_an_accounts_page_reads_its_postings_in_a_fixed_number_of_queries(gateway_account, staff_client, monkeypatch):
    monkeypatch.setattr(ledger_admin, "STATEMENT_LINES", 3)
    post(gateway_account, (R, 100), (S, -100))
    staff = staff_client(roles.FINANCE_VIEWER)
    url = account_url(gateway_account, R)
    staff.get(url)  # warm the session and content types
    post(gateway_account, (R, 100), (S, -100))
    post(gateway_account, (R, 100), (S, -100))
    post(gateway_account, (R, 100), (S, -100))  # one more than the page shows: the balance before is summed

    few, _ = page_queries(staff, url)
    for _ in range(5):
        post(gateway_account, (R, 100), (S, -100))
    many, content = page_queries(staff, url)

    assert few == many
    assert b"9.00 USD" in content  # the latest balance
