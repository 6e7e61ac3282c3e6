"""A settlement CSV's batch id longer than a batch id is stored (64 characters) is refused naming
its line, and nothing of the file is imported. Before, the id was cut to 64 characters when stored
but the rows grouped by the whole id: two ids alike in their first 64 characters were one stored
batch, the second one's lines dropped as "imported before"."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.ledger.models import JournalEntry
from apps.reconciliation.errors import ReconciliationError
from apps.reconciliation.models import CsvMapping, SettlementBatch, SettlementLine
from apps.reconciliation.services import settlement_csv_import
from tests.reconciliation.test_csv_upload import upload

SHARED = "B" * 64  # what the two long ids have in common: all a stored batch id holds


@pytest.fixture
def mapping(db):
    return CsvMapping.objects.create(
        name="with batches", gateway="other", transaction_id_column="id", amount_column="amount",
        kind_column="type", batch_id_column="batch", amount_format="minor",
    )  # fmt: skip


def nothing_stored() -> bool:
    return not (SettlementBatch.objects.exists() or SettlementLine.objects.exists() or JournalEntry.objects.exists())


def test_two_long_batch_ids_alike_in_their_first_64_characters_are_refused_naming_the_line(
    anet_account, mapping, staff_client
):
    content = f"id,amount,type,batch\nT-1,500,charge,{SHARED}-one\nT-2,700,charge,{SHARED}-two\n".encode()

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert page.status_code == 200
    assert (
        f"The file was not imported: line 2, &#x27;batch&#x27;: the batch id &#x27;{SHARED}&#x27;… is 68 "
        "characters long; a batch id is at most 64"
    ).encode() in page.content
    assert b"batch(es) imported" not in page.content
    assert nothing_stored()


def test_a_long_batch_id_after_good_rows_refuses_the_whole_file(anet_account, mapping, staff_client):
    content = f"id,amount,type,batch\nT-1,500,charge,B-1\nT-2,700,charge,{SHARED}X\n".encode()

    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, mapping, content)

    assert b"line 3, &#x27;batch&#x27;: the batch id" in page.content and b"is 65 characters long" in page.content
    assert nothing_stored()


def test_a_batch_id_of_64_characters_is_stored_whole_and_found_again(anet_account, mapping, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)
    content = f"id,amount,type,batch\nT-1,500,charge,{SHARED}\nT-2,700,charge,{SHARED}\n".encode()

    first = upload(staff, anet_account, mapping, content)
    again = upload(staff, anet_account, mapping, content)

    assert b"1 batch(es) imported" in first.content
    batch = SettlementBatch.objects.get()
    assert (batch.gateway_batch_id, batch.line_count, batch.charges_amount) == (SHARED, 2, 1200)
    assert f"Imported before, left as it was: {SHARED}".encode() in again.content
    assert (SettlementBatch.objects.count(), SettlementLine.objects.count()) == (1, 2)


def test_a_long_batch_id_given_for_the_whole_file_is_refused(anet_account, db):
    """The upload form holds 64 characters; the service refuses a longer one from any caller."""
    no_batch_column = CsvMapping.objects.create(
        name="one batch", gateway="other", transaction_id_column="id", amount_column="amount", amount_format="minor"
    )

    with pytest.raises(ReconciliationError) as refused:
        settlement_csv_import(
            account=anet_account,
            mapping=no_batch_column,
            content=b"id,amount\nT-1,500\n",
            batch_id=f"{SHARED}-one",
            settled_at=timezone.now(),
            actor=Actor.system("tests"),
        )

    assert refused.value.code == "invalid_settlement_file"
    assert "the batch id given for the file" in refused.value.message and "68 characters long" in refused.value.message
    assert nothing_stored()


@pytest.mark.parametrize(
    ("header", "row", "what"),
    [
        ("id,amount,type,batch", f"T-{'9' * 63},500,charge,B-1", "the transaction id"),
        ("id,amount,type,batch,ref", f"T-1,500,charge,B-1,{'R' * 65}", "the reference"),
    ],
    ids=["transaction id", "reference"],
)
def test_a_long_transaction_id_or_reference_refuses_the_whole_file(anet_account, db, header: str, row: str, what: str):
    """Cut to the 64 characters stored, two transaction ids alike in their first 64 would be one
    (the second "listed twice"), and a cut reference could match a payment that is not the line's."""
    with_reference = CsvMapping.objects.create(
        name="with references", gateway="other", transaction_id_column="id", amount_column="amount",
        kind_column="type", batch_id_column="batch", reference_column="ref", amount_format="minor",
    )  # fmt: skip
    if "ref" not in header:
        with_reference.reference_column = ""
        with_reference.save()
    content = f"{header}\nT-0,100,charge,B-1{',r' if 'ref' in header else ''}\n{row}\n".encode()

    with pytest.raises(ReconciliationError) as refused:
        settlement_csv_import(
            account=anet_account, mapping=with_reference, content=content, batch_id="", settled_at=timezone.now(),
            actor=Actor.system("tests"),
        )  # fmt: skip

    assert refused.value.code == "invalid_settlement_file"
    assert "line 3, " in refused.value.message and f"{what} " in refused.value.message
    assert "65 characters long" in refused.value.message
    assert nothing_stored()
