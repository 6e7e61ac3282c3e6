"""Posting on PostgreSQL is one statement once this process has seen the ledger accounts
committed; ids read or made in a transaction that rolls back are never kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.ledger import services
from apps.ledger.errors import LedgerUnbalanced
from apps.ledger.models import AccountKind, EntryKind, JournalEntry, LedgerAccount, Posting
from apps.ledger.services import _ENTRY_COLUMNS, EntrySpec, ledger_post_many
from tests.factories import GatewayAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)  # what is kept depends on commits


def spec(account: Any, amount: int, *, kind: str = EntryKind.ADJUSTMENT) -> EntrySpec:
    return EntrySpec(
        gateway_account_id=account.pk,
        kind=kind,
        currency="USD",
        amount=amount,
        lines=((AccountKind.ADJUSTMENTS, -amount), (AccountKind.RECEIVABLE, amount)),
        memo="correction",
    )


def statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"] not in {"BEGIN", "COMMIT"}]


def test_entries_of_known_accounts_cost_one_statement_with_their_postings():
    account = GatewayAccountFactory()
    with transaction.atomic():
        ledger_post_many([spec(account, 100)])  # reads and creates the accounts

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        entries = ledger_post_many([spec(account, 200), spec(account, 300, kind=EntryKind.FEE)])

    assert len(statements(queries)) == 1, statements(queries)
    assert [e.pk for e in entries] == list(
        JournalEntry.objects.filter(amount__in=[200, 300]).order_by("pk").values_list("pk", flat=True)
    )
    for entry, amount in zip(entries, [200, 300], strict=True):
        assert not entry._state.adding
        postings = dict(Posting.objects.filter(entry=entry).values_list("account__kind", "amount"))
        assert postings == {AccountKind.ADJUSTMENTS: -amount, AccountKind.RECEIVABLE: amount}


@transaction.atomic
def post_then_fail(account: Any) -> None:
    ledger_post_many([spec(account, 100)])
    raise RuntimeError("the change is undone")


def test_accounts_made_in_a_transaction_that_rolled_back_are_not_kept():
    account = GatewayAccountFactory()
    with pytest.raises(RuntimeError, match="undone"):
        post_then_fail(account)
    assert not LedgerAccount.objects.exists()

    with transaction.atomic():
        (entry,) = ledger_post_many([spec(account, 100)])  # kept ids would name rows that never committed

    assert set(Posting.objects.filter(entry=entry).values_list("account_id", flat=True)) == set(
        LedgerAccount.objects.values_list("pk", flat=True)
    )


def test_accounts_read_by_a_transaction_are_kept_only_once_it_commits():
    account = GatewayAccountFactory()
    with transaction.atomic():
        ledger_post_many([spec(account, 100)])  # made here: read, created, read again
        with CaptureQueriesContext(connection) as before_commit:
            ledger_post_many([spec(account, 100)])

    with CaptureQueriesContext(connection) as after_commit, transaction.atomic():
        ledger_post_many([spec(account, 100)])

    assert len(statements(before_commit)) == 2  # the accounts read again, then the entry
    assert len(statements(after_commit)) == 1


def test_the_one_statement_writes_every_column_of_an_entry():
    columns = {field.column for field in JournalEntry._meta.concrete_fields if not field.primary_key}
    assert set(_ENTRY_COLUMNS) == columns  # a field added to the model must be added to the statement


def test_a_kept_id_that_names_another_account_posts_nothing_and_is_dropped():
    account = GatewayAccountFactory()
    with transaction.atomic():
        ledger_post_many([spec(account, 100)])
    receivable = (account.pk, AccountKind.RECEIVABLE, "USD")
    adjustments = LedgerAccount.objects.get(gateway_account=account, kind=AccountKind.ADJUSTMENTS)
    services._known[receivable] = adjustments.pk  # as after a restore: the id is another account's now

    with pytest.raises(LedgerUnbalanced), transaction.atomic():
        ledger_post_many([spec(account, 200)])

    assert not JournalEntry.objects.filter(amount=200).exists()
    assert services._known == {}
    with transaction.atomic():
        (entry,) = ledger_post_many([spec(account, 200)])
    postings = dict(Posting.objects.filter(entry=entry).values_list("account__kind", "amount"))
    assert postings == {AccountKind.ADJUSTMENTS: -200, AccountKind.RECEIVABLE: 200}
