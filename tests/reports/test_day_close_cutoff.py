"""Closing a day while entries of that day are being posted (real threads, PostgreSQL): every
entry of the day is in the close's figures or listed as recorded after the close, never neither,
whatever its created_at."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.services import EntrySpec, ledger_post
from apps.payments.models import Payment
from apps.payments.services import bank_debit_returned
from apps.reports.day_close_selectors import FigureChange, day_figures, entries_after_close, figures_changed
from apps.reports.models import DayClose
from apps.reports.services import day_close
from tests.accounts.factories import StaffUserFactory
from tests.factories import GatewayAccountFactory
from tests.helpers import in_a_thread, wait_for_a_lock_wait
from tests.reports.helpers import SYSTEM, settled_bank_debit

pytestmark = pytest.mark.django_db(transaction=True)


def test_entries_posted_while_the_day_is_closed_are_in_its_figures_or_listed_after_it(api, anet_account, anet_sandbox):
    early = settled_bank_debit(api, anet_account, anet_sandbox, 5000)
    late = settled_bank_debit(api, anet_account, anet_sandbox, 3000)
    day = timezone.now().date() - timedelta(days=1)
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    posted, release, opened, go = (threading.Event() for _ in range(4))

    def returned(payment: Payment) -> None:
        """The settlement import's step, inside its transaction: the bank returned it that day."""
        bank_debit_returned(
            gateway_account_id=anet_account.pk,
            transaction_id=payment.gateway_transaction_id,
            amount=payment.amount_captured,
            return_code="R01",
            return_reason="Insufficient Funds",
            returned_at=datetime.combine(day, time(15), tzinfo=UTC),
            actor=SYSTEM,
        )

    def long_import() -> None:  # posts its entry before the close and commits while it runs
        with transaction.atomic():
            returned(early)
            posted.set()
            release.wait(10)

    def open_before_the_close() -> None:  # under way before the close, posts its entry after it
        with transaction.atomic():
            Payment.objects.select_for_update().get(pk=late.pk)
            opened.set()
            go.wait(10)
            returned(late)

    importers = [in_a_thread(long_import), in_a_thread(open_before_the_close)]
    assert posted.wait(10) and opened.wait(10)
    closer = in_a_thread(lambda: day_close(account=anet_account, day=day, user=approver, actor=Actor.staff(approver)))
    try:
        wait_for_a_lock_wait("the close")
    finally:
        release.set()
        closer.join(20)
        go.set()
        for importer in importers:
            importer.join(20)

    close = DayClose.objects.get()
    first = JournalEntry.objects.get(payment=early, kind=EntryKind.RETURN)
    second = JournalEntry.objects.get(payment=late, kind=EntryKind.RETURN)
    assert first.created_at < close.closed_at  # built before the close, committed while it waited
    listed = list(entries_after_close(close))
    assert first in listed or close.figures["money"]["returned"].get("USD") == 5000, "neither in nor after"
    assert close.figures["money"]["returned"] == {"USD": 5000} and close.figures["counts"]["returns"] == 1
    assert listed == [second]
    current = day_figures(account_id=anet_account.pk, day=day)
    assert figures_changed(stored=close.figures, current=current) == [
        FigureChange("returned", "USD", 5000, 8000),
        FigureChange("returns", "", 1, 2),
    ]


@pytest.mark.sqlite
def test_an_entry_of_the_day_posted_after_the_close_is_listed_after_it():
    account = GatewayAccountFactory()
    approver = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    day = timezone.now().date() - timedelta(days=1)

    def correction() -> JournalEntry:
        with transaction.atomic():
            return ledger_post(
                EntrySpec(
                    gateway_account_id=account.pk, kind=EntryKind.ADJUSTMENT, currency="USD", amount=300,
                    lines=((AccountKind.ADJUSTMENTS, -300), (AccountKind.RECEIVABLE, 300)),
                    occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                )
            )  # fmt: skip

    before = correction()
    close = day_close(account=account, day=day, user=approver, actor=Actor.staff(approver))
    after = correction()

    assert close.last_entry_id is not None and before.pk <= close.last_entry_id < after.pk
    assert list(entries_after_close(close)) == [after]
    # A close stored before the cut-off was kept: the entries built after it.
    DayClose.objects.filter(pk=close.pk).update(last_entry_id=None)
    close.refresh_from_db()
    assert list(entries_after_close(close)) == [after]
