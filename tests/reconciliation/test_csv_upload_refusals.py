"""Settlement CSVs the database could not store are refused by the upload with a message, the
file unread (before: an IntegrityError or DataError from the database, a 500)."""

from __future__ import annotations

import pytest

from apps.accounts import roles
from apps.ledger.models import JournalEntry
from apps.reconciliation.models import CsvMapping, SettlementBatch, SettlementLine
from tests.reconciliation.test_csv_upload import upload


@pytest.fixture
def mapping(db):
    return CsvMapping.objects.create(
        name="with kinds", gateway="other", transaction_id_column="id", amount_column="amount",
        kind_column="type", batch_id_column="batch", amount_format="minor",
    )  # fmt: skip


def nothing_stored() -> bool:
    return not (SettlementBatch.objects.exists() or SettlementLine.objects.exists() or JournalEntry.objects.exists())


def test_a_transaction_twice_in_a_batch_as_the_same_kind_is_refused_naming_both_lines(
    anet_account, mapping, staff_client
):
    """A dispute and its reversal both read as adjustments: one kind, one transaction, one batch."""
    content = b"id,amount,type,batch\nA-1,1000,charge,B-1\nT-9,500,dispute,B-1\nT-9,500,dispute_reversal,B-1\n"

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200
    assert b"lines 3 and 4: transaction &#x27;T-9&#x27; is listed twice as adjustment" in page.content
    assert nothing_stored()


def test_a_transaction_in_two_batches_or_as_two_kinds_is_read(anet_account, mapping, staff_client):
    content = b"id,amount,type,batch\nT-9,500,dispute,B-1\nT-9,500,dispute,B-2\nT-9,500,refund,B-1\n"

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200 and b"2 batch(es) imported" in page.content
    assert SettlementLine.objects.count() == 3


def test_a_batch_adding_up_past_64_bits_is_refused(anet_account, mapping, staff_client):
    """9,224 lines of 999,999,999,999,999 (each under the per-cell limit) add up past 2**63 - 1."""
    rows = [f"T-{n},999999999999999,charge,B-1" for n in range(9224)]
    content = ("id,amount,type,batch\n" + "\n".join(rows) + "\n").encode()

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200
    assert b"line 9225: batch &#x27;B-1&#x27; adds up past the largest total a batch can hold" in page.content
    assert nothing_stored()


def test_a_batch_just_inside_64_bits_is_read(anet_account, mapping, staff_client):
    rows = [f"T-{n},999999999999999,charge,B-{n // 9000}" for n in range(9224)]
    content = ("id,amount,type,batch\n" + "\n".join(rows) + "\n").encode()

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200 and b"2 batch(es) imported" in page.content
    assert SettlementBatch.objects.get(gateway_batch_id="B-0").charges_amount == 9000 * 999999999999999


def test_what_the_database_refuses_to_store_is_refused_with_nothing_stored(anet_account, mapping, staff_client):
    """A NUL character in a cell: the database refuses the line (before: a DataError, a 500)."""
    content = b"id,amount,type,batch\nT\x001,500,charge,B-1\n"

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200
    assert b"The file was not imported: the database refused to store its lines" in page.content
    assert b"NUL" in page.content
    assert nothing_stored()
