"""A cut-off in a gateway account's entries orders them by commit, not by when they were built:
it waits for the open transactions that posted for the account, and postings after it wait for
it (real threads and connections, PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.services import EntrySpec, ledger_cutoff, ledger_post
from tests.factories import GatewayAccountFactory
from tests.helpers import in_a_thread, wait_for_a_lock_wait

pytestmark = pytest.mark.django_db(transaction=True)


def adjustment(account: Any) -> EntrySpec:
    return EntrySpec(
        gateway_account_id=account.pk,
        kind=EntryKind.ADJUSTMENT,
        currency="USD",
        amount=300,
        lines=((AccountKind.ADJUSTMENTS, -300), (AccountKind.RECEIVABLE, 300)),
        memo="correction",
    )


def test_a_cutoff_waits_for_an_open_transaction_that_posted_for_its_account():
    account = GatewayAccountFactory()
    posted, release = threading.Event(), threading.Event()
    entries: list[JournalEntry] = []
    seen: dict[str, Any] = {}

    def post_then_wait() -> None:
        with transaction.atomic():
            entries.append(ledger_post(adjustment(account)))
            posted.set()
            release.wait(10)

    def cut_off() -> None:
        with transaction.atomic():
            seen["last"] = ledger_cutoff(gateway_account_id=account.pk)
            seen["entries"] = list(JournalEntry.objects.filter(gateway_account=account))

    poster = in_a_thread(post_then_wait)
    assert posted.wait(10)
    cutter = in_a_thread(cut_off)
    try:
        wait_for_a_lock_wait("the cut-off")
        assert "last" not in seen
    finally:
        release.set()
        poster.join(10)
        cutter.join(10)

    (entry,) = entries
    assert seen["last"] >= entry.pk  # committed before the cut-off read, not after it
    assert seen["entries"] == [entry]


def test_a_posting_waits_for_a_cutoff_of_its_account_and_comes_after_it():
    account, other = GatewayAccountFactory(), GatewayAccountFactory()
    entries: dict[str, JournalEntry] = {}

    def post(gateway_account: Any, name: str) -> None:
        with transaction.atomic():
            entries[name] = ledger_post(adjustment(gateway_account))

    with transaction.atomic():
        last = ledger_cutoff(gateway_account_id=account.pk)
        in_a_thread(lambda: post(other, "other account")).join(10)  # another account's posting waits for nothing
        assert "other account" in entries
        poster = in_a_thread(lambda: post(account, "this account"))
        wait_for_a_lock_wait("the posting")
        assert "this account" not in entries
    poster.join(10)

    assert entries["this account"].pk > last


def test_a_cutoff_needs_a_transaction(db):
    with pytest.raises(RuntimeError):
        ledger_cutoff(gateway_account_id=GatewayAccountFactory().pk)


@pytest.mark.sqlite
def test_a_cutoff_is_the_last_entry_so_far():
    account = GatewayAccountFactory()
    with transaction.atomic():
        first = ledger_post(adjustment(account))

    with transaction.atomic():
        last = ledger_cutoff(gateway_account_id=account.pk)
    with transaction.atomic():
        second = ledger_post(adjustment(account))

    assert first.pk <= last < second.pk


def test_a_posting_to_accounts_already_known_still_waits_for_a_cutoff():
    account = GatewayAccountFactory()
    with transaction.atomic():
        ledger_post(adjustment(account))  # its ledger accounts are now known: no account read takes the lock
    entries: dict[str, JournalEntry] = {}

    def post() -> None:
        with transaction.atomic():
            entries["after"] = ledger_post(adjustment(account))

    with transaction.atomic():
        last = ledger_cutoff(gateway_account_id=account.pk)
        drawn = entry_ids_drawn()
        poster = in_a_thread(post)
        wait_for_a_lock_wait("the posting")
        assert "after" not in entries
        assert entry_ids_drawn() == drawn  # the waiting posting has drawn no entry id yet
    poster.join(10)

    assert entries["after"].pk > last


def entry_ids_drawn() -> int:
    """The entry id sequence's position (sequences are not transactional: another transaction's
    draw shows at once)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT last_value FROM pg_sequences WHERE sequencename = 'ledger_journalentry_id_seq'")
        (value,) = cursor.fetchone()
    return int(value)
