"""Settlement reports uploaded as CSV in the admin, read through a saved column mapping:
all-or-nothing, idempotent, matched right after, fees posted to the ledger."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.accounts import roles
from apps.ledger.models import AccountKind
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment
from apps.reconciliation.models import CsvMapping, Discrepancy, SettlementBatch, SettlementLine
from tests.payments.helpers import purchase

UPLOAD = "/admin/reconciliation/settlementbatch/upload/"


@pytest.fixture
def anet_mapping(db):
    return CsvMapping.objects.create(
        name="Authorize.Net transaction detail report",
        gateway="authorizenet",
        transaction_id_column="Transaction ID",
        amount_column="Settlement Amount",
        batch_id_column="Batch ID",
        kind_column="Transaction Status",
        charge_values="Settled Successfully",
        refund_values="Credited",
        reference_column="Invoice Number",
        fee_column="Fee",
        settled_at_column="Settlement Date",
        date_format="%d-%b-%Y %I:%M:%S %p",
    )


def report(*rows: str) -> bytes:
    header = "Transaction ID,Settlement Amount,Batch ID,Transaction Status,Invoice Number,Fee,Settlement Date"
    return ("\ufeff" + "\n".join([header, *rows]) + "\n").encode()


def upload(staff, account, mapping, content: bytes, **extra):
    data = {
        "gateway_account": account.pk,
        "mapping": mapping.pk,
        "file": SimpleUploadedFile("report.csv", content, content_type="text/csv"),
        "batch_id": "",
        "settled_on": timezone.now().date().isoformat(),
        **extra,
    }
    return staff.post(UPLOAD, data, follow=True)


def test_an_uploaded_report_is_stored_matched_and_its_fees_posted(api, anet_account, anet_mapping, staff_client):
    first = Payment.objects.get(public_id=purchase(api, 1250).json()["id"])
    second = Payment.objects.get(public_id=purchase(api, 800).json()["id"])
    staff = staff_client(roles.FINANCE_OPERATOR)
    content = report(
        f"{first.gateway_transaction_id},12.50,B-77,Settled Successfully,,0.40,24-Nov-2026 11:30:00 PM",
        f"{second.gateway_transaction_id},8.00,B-77,Settled Successfully,,0.25,24-Nov-2026 11:30:00 PM",
    )

    page = upload(staff, anet_account, anet_mapping, content)

    assert page.status_code == 200 and b"1 batch(es) imported, 2 lines matched" in page.content
    batch = SettlementBatch.objects.get()
    assert (batch.gateway_batch_id, batch.source, batch.fees_amount, batch.payout_amount) == ("B-77", "csv", 65, 1985)
    assert f"{batch.settled_at:%Y-%m-%d %H:%M}" == "2026-11-24 23:30"
    assert set(SettlementLine.objects.values_list("match_status", flat=True)) == {"matched"}
    balances = {
        kind: account_balance(gateway_account_id=anet_account.pk, kind=kind, currency="USD") for kind in AccountKind
    }
    assert (balances["receivable"], balances["fees"], balances["bank"], balances["clearing"]) == (0, 65, 1985, 0)

    again = upload(staff, anet_account, anet_mapping, content)

    assert b"Imported before, left as it was: B-77" in again.content
    assert (SettlementBatch.objects.count(), SettlementLine.objects.count()) == (1, 2)


def test_a_bad_line_names_itself_and_nothing_is_stored(api, anet_account, anet_mapping, staff_client):
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    staff = staff_client(roles.FINANCE_OPERATOR)
    content = report(
        f"{payment.gateway_transaction_id},10.00,B-1,Settled Successfully,,0,24-Nov-2026 11:30:00 PM",
        "999,ten dollars,B-2,Settled Successfully,,0,24-Nov-2026 11:30:00 PM",
    )

    page = upload(staff, anet_account, anet_mapping, content)

    assert b"line 3, amount: &#x27;ten dollars&#x27; is not an amount" in page.content
    assert not SettlementBatch.objects.exists() and not SettlementLine.objects.exists()


def test_a_file_without_the_mapped_columns_is_refused(anet_account, anet_mapping, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = upload(staff, anet_account, anet_mapping, b"id,amount\n1,2.00\n")

    assert b"The file has no column" in page.content and b"Transaction ID" in page.content
    assert not SettlementBatch.objects.exists()


def test_a_minimal_mapping_reads_signed_amounts_as_one_batch(api, anet_account, staff_client):
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    mapping = CsvMapping.objects.create(
        name="minimal", gateway="other", transaction_id_column="id", amount_column="amount", amount_format="minor"
    )
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = upload(
        staff,
        anet_account,
        mapping,
        f"id,amount\n{payment.gateway_transaction_id},1000\nX-9,-300\n".encode(),
        batch_id="manual-1",
    )

    assert b"1 batch(es) imported, 1 lines matched" in page.content
    assert SettlementLine.objects.get(gateway_transaction_id="X-9").kind == "refund"
    assert Discrepancy.objects.get().kind == "missing_on_our_side"


def test_uploading_needs_the_permission(anet_account, anet_mapping, staff_client):
    viewer = staff_client(roles.FINANCE_VIEWER)

    assert viewer.get(UPLOAD).status_code == 403
    assert b"Upload settlement CSV" not in viewer.get("/admin/reconciliation/settlementbatch/").content
    operator = staff_client(roles.FINANCE_OPERATOR)
    assert b"Upload settlement CSV" in operator.get("/admin/reconciliation/settlementbatch/").content


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (["1,inf,B-1,Settled Successfully,,0,"], b"&#x27;inf&#x27; is not an amount"),
        (["1,Infinity,B-1,Settled Successfully,,0,"], b"&#x27;Infinity&#x27; is not an amount"),
        (["1,NaN,B-1,Settled Successfully,,0,"], b"&#x27;NaN&#x27; is not an amount"),
        (["1,1e30,B-1,Settled Successfully,,0,"], b"&#x27;1e30&#x27; is not an amount"),
        (["1,10.00,B-1,Settled Successfully,,1e300,"], b"&#x27;1e300&#x27; is not an amount"),
        (['1,"10.00' + "x" * 140_000 + ",B-1,Settled Successfully,,0,"], b"The file is not readable as CSV"),
    ],
    ids=["inf", "infinity", "nan", "huge", "huge-fee", "stray-quote"],
)
def test_a_file_no_amount_or_csv_could_be_read_from_is_refused(anet_account, anet_mapping, staff_client, rows, said):
    """Before: OverflowError (an infinite amount), csv.Error (a field past the reader's limit) and
    a database integer overflow (an amount past 64 bits), each a 500."""
    page = upload(staff_client(roles.FINANCE_OPERATOR), anet_account, anet_mapping, report(*rows))

    assert page.status_code == 200 and said in page.content
    assert not SettlementBatch.objects.exists()


def test_a_batch_is_in_the_currency_of_its_lines(api, anet_account, staff_client):
    """Before: every batch took the account's currency, so EUR lines in a batch of their own were
    added up as dollars; and a batch mixing currencies summed euros and dollars into one total."""
    mapping = CsvMapping.objects.create(
        name="with currency", gateway="other", transaction_id_column="id", amount_column="amount",
        currency_column="currency", batch_id_column="batch", amount_format="minor",
    )  # fmt: skip
    staff = staff_client(roles.FINANCE_OPERATOR)

    mixed = upload(staff, anet_account, mapping, b"id,amount,currency,batch\nA-1,1000,EUR,B-1\nA-2,1000,USD,B-1\n")

    assert b"batch B-1: lines in EUR and USD; a batch is in one currency" in mixed.content
    assert not SettlementBatch.objects.exists()

    upload(staff, anet_account, mapping, b"id,amount,currency,batch\nA-1,1000,EUR,B-E\nA-2,700,USD,B-U\n")

    assert dict(SettlementBatch.objects.values_list("gateway_batch_id", "currency")) == {"B-E": "EUR", "B-U": "USD"}
    assert SettlementBatch.objects.get(gateway_batch_id="B-E").charges_amount == 1000
