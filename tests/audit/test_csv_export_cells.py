"""Admin CSV exports read well in a spreadsheet: money as a number with its currency column,
labels not codes, UTC times to the second, empty cells empty, UTF-8 declared (and a BOM for Excel)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from apps.accounts import roles
from apps.payments.models import Payment
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def export(client, url: str, **params: str) -> tuple[str, list[dict[str, str]]]:
    response = client.get(url, params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    return body, list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def test_payments_export_money_as_numbers_with_currency_labels_and_iso_times(staff_client):
    stamp = datetime(2026, 11, 30, 14, 5, 9, 123456, tzinfo=UTC)
    yen = PaymentFactory(amount=4500, currency="JPY", status="authorized", reference="")
    usd = PaymentFactory(amount=4500, currency="USD", status="authorized")
    Payment.objects.filter(pk__in=[yen.pk, usd.pk]).update(created_at=stamp)
    viewer = staff_client(roles.FINANCE_VIEWER)

    _, rows = export(viewer, "/admin/payments/payment/export.csv")

    by_id = {next(iter(row.values())): row for row in rows}
    usd_row, yen_row = by_id[usd.public_id], by_id[yen.public_id]
    assert list(usd_row)[2:6] == ["Amount", "Currency", "Amount captured", "Amount refunded"]
    assert (usd_row["Amount"], usd_row["Currency"]) == ("45.00", "USD")
    assert (yen_row["Amount"], yen_row["Currency"]) == ("4500", "JPY")
    assert usd_row["Amount refunded"] == "0.00" and yen_row["Amount captured"] == "0"
    assert usd_row["Status"] == "Authorized"  # the label, not the code
    assert usd_row["Created at"] == "2026-11-30T14:05:09+00:00"
    assert "'-" not in "".join(yen_row.values()) and yen_row["Reference"] == ""


def test_the_excel_variant_starts_with_a_byte_order_mark(staff_client):
    PaymentFactory(reference="zoë-order-7")
    viewer = staff_client(roles.FINANCE_VIEWER)

    body, rows = export(viewer, "/admin/payments/payment/export.csv", excel="1")

    assert body.startswith("\ufeff")
    assert any("zoë-order-7" in value for row in rows for value in row.values())


def test_an_unknown_filter_sends_the_export_back_to_the_list_flagged(staff_client):
    viewer = staff_client(roles.FINANCE_VIEWER)

    response = viewer.get("/admin/payments/payment/export.csv", {"no_such_field": "1"})

    assert response.status_code == 302 and response["Location"].endswith("/admin/payments/payment/?e=1")
