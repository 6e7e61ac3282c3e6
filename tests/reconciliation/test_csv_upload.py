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
