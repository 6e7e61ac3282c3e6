"""The ledger: what each money movement posts, balances from postings, and the database's
own refusal of unbalanced or edited entries."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.ledger.errors import LedgerUnbalanced
from apps.ledger.models import AccountKind, EntryKind, JournalEntry, LedgerAccount, Posting
from apps.ledger.selectors import account_balance, account_balances, ledger_problems
from apps.ledger.services import EntrySpec, ledger_post, ledger_post_many
from apps.payments.models import Payment
from tests.payments.helpers import VISA, purchase, settle

R, S, REF = AccountKind.RECEIVABLE, AccountKind.SALES, AccountKind.REFUNDS


def postings_of(entry: JournalEntry) -> dict[str, int]:
    return {p.account.kind: p.amount for p in entry.postings.select_related("account")}


def balance(account, kind: str) -> int:
    return account_balance(gateway_account_id=account.pk, kind=kind, currency="USD")


def test_a_sale_posts_receivable_against_sales(api, anet_account):
    payment = Payment.objects.get(public_id=purchase(api, 1050).json()["id"])

    (entry,) = JournalEntry.objects.filter(payment=payment)
    assert (entry.kind, entry.amount, entry.currency) == (EntryKind.CAPTURE, 1050, "USD")
    assert entry.gateway_transaction_id == payment.gateway_transaction_id
    assert postings_of(entry) == {R: 1050, S: -1050}
    assert (balance(anet_account, R), balance(anet_account, S)) == (1050, -1050)


def test_an_authorisation_posts_nothing_until_the_capture(api, anet_account):
    body = purchase(api, 2000, capture=False).json()
    assert not JournalEntry.objects.exists()

    api.post(f"/api/v1/payments/{body['id']}/capture", {"amount": 1500}, format="json")

    (entry,) = JournalEntry.objects.all()
    assert (entry.kind, entry.amount) == (EntryKind.CAPTURE, 1500)


def test_a_void_after_capture_reverses_the_capture(api, anet_account):
    body = purchase(api, 700).json()

    assert api.post(f"/api/v1/payments/{body['id']}/void", {}, format="json").status_code == 200

    kinds = list(JournalEntry.objects.order_by("pk").values_list("kind", "amount"))
    assert kinds == [(EntryKind.CAPTURE, 700), (EntryKind.CAPTURE_REVERSAL, 700)]
    assert (balance(anet_account, R), balance(anet_account, S)) == (0, 0)


def test_refunds_post_to_refunds_against_the_receivable(api, anet_account, anet_sandbox):
    body = purchase(api, 1000).json()
    settle(anet_sandbox)

    first = api.post(f"/api/v1/payments/{body['id']}/refunds", {"amount": 300}, format="json").json()
    api.post(f"/api/v1/payments/{body['id']}/refunds", {"amount": 200}, format="json")

    refunds = JournalEntry.objects.filter(kind=EntryKind.REFUND).order_by("pk")
    assert [e.amount for e in refunds] == [300, 200]
    assert refunds[0].refund.public_id == first["id"]
    assert refunds[0].gateway_transaction_id == refunds[0].refund.gateway_transaction_id != ""
    assert postings_of(refunds[0]) == {REF: 300, R: -300}
    assert (balance(anet_account, R), balance(anet_account, REF)) == (500, 500)
    rows = {row.kind: row for row in account_balances(gateway_account_id=anet_account.pk)}
    assert (rows[S].natural_balance, rows[R].debits, rows[R].credits) == (1000, 1000, 500)


def test_a_failed_refund_posts_nothing(api, anet_account):
    body = purchase(api, 1000).json()  # not settled: Authorize.Net refuses the refund

    assert api.post(f"/api/v1/payments/{body['id']}/refunds", {"amount": 300}, format="json").status_code >= 400

    assert list(JournalEntry.objects.values_list("kind", flat=True)) == [EntryKind.CAPTURE]


def test_a_declined_charge_posts_nothing(api, anet_account):
    declined = purchase(api, 1000, payment_method={**VISA, "billing_details": {"postal_code": "46282"}})

    assert declined.status_code == 402
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
def test_an_unbalanced_entry_is_refused_before_it_reaches_the_database(anet_account):
    spec = EntrySpec(
        gateway_account_id=anet_account.pk, kind=EntryKind.ADJUSTMENT, currency="USD", amount=5, lines=((R, 5), (S, -4))
    )
    with pytest.raises(LedgerUnbalanced), transaction.atomic():
        ledger_post(spec)
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_an_unbalanced_insert_and_any_edit(anet_account):
    with transaction.atomic():
        entry = ledger_post(
            EntrySpec(
                gateway_account_id=anet_account.pk,
                kind=EntryKind.ADJUSTMENT,
                currency="USD",
                amount=5,
                lines=((R, 5), (S, -5)),
            )
        )
    account = LedgerAccount.objects.get(gateway_account=anet_account, kind=R)

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        Posting.objects.create(entry=entry, account=account, amount=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Posting.objects.filter(entry=entry).update(amount=6)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(amount=6)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Posting.objects.filter(entry=entry).delete()
    assert ledger_problems() == []


def test_postings_outside_a_transaction_are_refused(anet_account):
    spec = EntrySpec(
        gateway_account_id=anet_account.pk, kind=EntryKind.ADJUSTMENT, currency="USD", amount=5, lines=((R, 5), (S, -5))
    )
    with pytest.raises(RuntimeError, match="inside the transaction"):
        ledger_post(spec)


@pytest.mark.ledger_unchecked
def test_verify_ledger_finds_a_payment_the_ledger_disagrees_with(api, anet_account, capsys):
    body = purchase(api, 1000).json()
    call_command("verify_ledger", "--balances")
    out = capsys.readouterr().out
    assert "Ledger OK: 1 entries, 2 postings" in out and "receivable" in out and "10.00 USD" in out

    Payment.objects.filter(public_id=body["id"]).update(amount_captured=900)  # behind the ledger's back

    with pytest.raises(CommandError, match="NOT sound"):
        call_command("verify_ledger")
    assert f"payment {body['id']}: captured 900 but the ledger says 1000" in capsys.readouterr().err


def _postings_read() -> int:
    """Rows of ledger_posting this transaction has read so far (scans of the table and its indexes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = 'ledger_posting'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db
def test_the_balance_check_reads_only_the_inserted_entries_postings(anet_account):
    """The database's balance check costs the same in a big ledger as in a small one, whatever the
    table's statistics say (none here, as on a server that has not analysed it yet): it looks up
    the postings of the entries a statement inserted, never the whole table (0002's join read all
    of ledger_posting on every insert; 0.4-0.7 ms a purchase at a few thousand postings)."""
    spec = EntrySpec(
        gateway_account_id=anet_account.pk, kind=EntryKind.ADJUSTMENT, currency="USD", amount=5, lines=((R, 5), (S, -5))
    )
    with transaction.atomic():
        ledger_post_many([spec] * 2_000)
        before = _postings_read()
        ledger_post(spec)
        assert _postings_read() - before <= 4  # the new entry's two postings, by its index


@pytest.mark.django_db
def test_one_statement_for_several_entries_is_refused_for_the_one_that_does_not_balance(anet_account):
    spec = EntrySpec(
        gateway_account_id=anet_account.pk, kind=EntryKind.ADJUSTMENT, currency="USD", amount=5, lines=((R, 5), (S, -5))
    )
    with transaction.atomic():
        first, second = ledger_post_many([spec, spec])
    account = LedgerAccount.objects.get(gateway_account=anet_account, kind=R)

    with pytest.raises(IntegrityError, match=f"ledger entry {second.pk} does not balance"), transaction.atomic():
        Posting.objects.bulk_create(
            [
                Posting(entry=first, account=account, amount=2),
                Posting(entry=first, account=account, amount=-2),
                Posting(entry=second, account=account, amount=3),
            ]
        )
    assert Posting.objects.count() == 4
