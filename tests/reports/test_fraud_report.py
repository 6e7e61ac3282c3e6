"""The fraud report (/api/v1/reports/fraud, JSON and CSV) and the dashboard's risk panel.

Payments are built with their risk assessment, review and authentication already set: the report
is the subject here, not the money path that records them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.payments.models import Payment
from apps.reports.fraud import percentile
from tests.factories import PaymentFactory
from tests.helpers import assert_shows_money

# Also run on SQLite (the quickstart's database): the JSON lookups must agree on both.
pytestmark = pytest.mark.sqlite

DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CARD_RULE = {"id": "rul_card", "name": "Card used by many customers", "outcome": "block", "mode": "live"}
TRIAL_RULE = {"id": "rul_trial", "name": "Trying: big first order", "outcome": "review", "mode": "log_only"}


def risk(outcome: str, *rules: dict[str, str]) -> dict[str, Any]:
    matched = [{**rule, "reason": "test"} for rule in rules]
    return {"score": 50, "level": "elevated", "outcome": outcome, "matched": matched, "errors": [], "inputs": {}}


def assessed(merchant: Any, outcome: str, amount: int, *rules: dict[str, str], at: datetime = DAY, **fields: Any):
    """A payment of `merchant` created at `at` carrying an assessment that decided `outcome`."""
    if outcome == "block":
        fields.update(status="failed", failure_code="blocked_by_risk", amount_authorized=0)
    decided_after = fields.pop("decided_after", None)
    payment = PaymentFactory(merchant=merchant, amount=amount, risk=risk(outcome, *rules), **fields)
    moved = {"created_at": at}
    if decided_after is not None:
        moved["reviewed_at"] = at + timedelta(seconds=decided_after)
    Payment.objects.filter(pk=payment.pk).update(**moved)
    return payment


def a_known_day(merchant: Any) -> None:
    """2 November: two allowed (USD, EUR), four held for review (approved after 60 s and 600 s,
    rejected after 1800 s, expired), two asked for 3-D Secure (one passed), one blocked; and one
    payment made before risk existed. 3 November: one blocked."""
    assessed(merchant, "allow", 1000)
    assessed(merchant, "allow", 500, currency="EUR")
    assessed(merchant, "review", 2000, review="approved", decided_after=600)
    assessed(merchant, "review", 2500, review="approved", decided_after=60)
    assessed(merchant, "review", 3000, review="rejected", decided_after=1800, status="voided")
    assessed(merchant, "review", 1500, review="expired", decided_after=72 * 3600, status="voided")
    assessed(merchant, "request_3ds", 700, authentication="succeeded")
    assessed(merchant, "request_3ds", 800, authentication="failed", status="failed", amount_authorized=0)
    assessed(merchant, "block", 900, CARD_RULE)
    assessed(merchant, "block", 400, CARD_RULE, at=DAY + timedelta(days=1))
    unassessed = PaymentFactory(merchant=merchant, amount=9999)
    Payment.objects.filter(pk=unassessed.pk).update(created_at=DAY)


def usd(amount: int) -> list[dict[str, Any]]:
    return [{"amount": amount, "currency": "USD"}]


def test_the_fraud_report_by_day_counts_each_outcome_with_its_amounts(api, merchant):
    a_known_day(merchant)

    report = api.get("/api/v1/reports/fraud", {"start": "2026-11-01", "end": "2026-11-30"}).json()

    assert (report["object"], report["report"], report["group_by"]) == ("report", "fraud", "day")
    first, second = report["data"]
    assert first["day"] == "2026-11-02" and second["day"] == "2026-11-03"
    assert first["evaluated"] == {
        "count": 9,
        "amounts": [{"amount": 500, "currency": "EUR"}, {"amount": 12400, "currency": "USD"}],
    }
    assert first["allowed"] == {
        "count": 2,
        "amounts": [{"amount": 500, "currency": "EUR"}, {"amount": 1000, "currency": "USD"}],
    }
    assert first["reviewed"] == {"count": 4, "amounts": usd(9000)}
    assert first["request_3ds"] == {"count": 2, "amounts": usd(1500)}
    assert first["blocked"] == {"count": 1, "amounts": usd(900)}
    assert first["review"] == {
        "approved": 2,
        "rejected": 1,
        "expired": 1,
        "pending": 0,
        # 60, 600 and 1800 s decided by someone (an expiry is no decision): nearest-rank percentiles.
        "seconds_to_decision": {"median": 600, "p90": 1800},
    }
    assert first["three_d_secure"] == {"requested": 2, "passed": 1}
    assert second["blocked"] == {"count": 1, "amounts": usd(400)}
    assert second["allowed"] == {"count": 0, "amounts": []}
    assert second["review"]["seconds_to_decision"] == {"median": None, "p90": None}


def test_the_fraud_report_by_rule_puts_the_top_rules_first_with_live_and_log_only_matches(api, merchant):
    assessed(merchant, "block", 900, CARD_RULE)
    assessed(merchant, "block", 1100, CARD_RULE, TRIAL_RULE)
    assessed(merchant, "allow", 5000, TRIAL_RULE, currency="EUR")
    assessed(merchant, "allow", 300, CARD_RULE, at=DAY + timedelta(days=1))  # live rule, another rule won
    assessed(merchant, "allow", 100)  # nothing matched: in no rule's row

    report = api.get("/api/v1/reports/fraud", {"start": "2026-11-02", "end": "2026-11-03", "group_by": "rule"}).json()

    card, trial = report["data"]
    assert (card["rule"], card["rule_name"], card["matches"]) == (
        "rul_card",
        CARD_RULE["name"],
        {"live": 3, "log_only": 0},
    )
    assert card["evaluated"] == {"count": 3, "amounts": usd(2300)}
    assert card["blocked"] == {"count": 2, "amounts": usd(2000)}
    assert card["allowed"] == {"count": 1, "amounts": usd(300)}
    assert (trial["rule"], trial["matches"]) == ("rul_trial", {"live": 0, "log_only": 2})
    assert trial["blocked"] == {"count": 1, "amounts": usd(1100)}
    assert trial["allowed"] == {"count": 1, "amounts": [{"amount": 5000, "currency": "EUR"}]}
    assert trial["reviewed"] == {"count": 0, "amounts": []}  # a log-only rule never acts


def test_the_fraud_report_as_csv_is_a_row_per_group_and_currency_in_major_units(api, merchant):
    a_known_day(merchant)

    response = api.get("/api/v1/reports/fraud", {"start": "2026-11-02", "format": "csv"})
    negotiated = api.get("/api/v1/reports/fraud", {"start": "2026-11-02"}, HTTP_ACCEPT="text/csv")

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="fraud-2026-11-02-2026-11-02-day.csv"'
    assert negotiated.content == response.content
    eur, usd_row = csv.DictReader(io.StringIO(response.content.decode()))
    assert (eur["day"], eur["currency"], eur["evaluated"], eur["evaluated_amount"]) == (
        "2026-11-02",
        "EUR",
        "1",
        "5.00",
    )
    assert (usd_row["currency"], usd_row["evaluated"], usd_row["evaluated_amount"]) == ("USD", "8", "124.00")
    assert (usd_row["blocked"], usd_row["blocked_amount"], usd_row["reviewed_amount"]) == ("1", "9.00", "90.00")
    assert (usd_row["review_approved"], usd_row["review_expired"], usd_row["three_d_secure_passed"]) == ("2", "1", "1")
    assert (usd_row["seconds_to_decision_median"], usd_row["seconds_to_decision_p90"]) == ("600", "1800")
    assert eur["seconds_to_decision_median"] == ""


def test_the_fraud_report_by_rule_as_csv(api, merchant):
    assessed(merchant, "block", 900, CARD_RULE, TRIAL_RULE)

    response = api.get("/api/v1/reports/fraud", {"start": "2026-11-02", "group_by": "rule", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["rule"], row["rule_name"], row["matches_live"], row["matches_log_only"]) for row in rows] == [
        ("rul_card", CARD_RULE["name"], "1", "0"),
        ("rul_trial", TRIAL_RULE["name"], "0", "1"),
    ]
    assert rows[0]["blocked_amount"] == "9.00" and rows[0]["currency"] == "USD"


def test_another_merchants_payments_are_not_in_the_fraud_report(api, merchant, other_merchant):
    assessed(other_merchant, "block", 900, CARD_RULE)
    assessed(merchant, "allow", 100)

    by_day = api.get("/api/v1/reports/fraud", {"start": "2026-11-02"}).json()["data"]
    by_rule = api.get("/api/v1/reports/fraud", {"start": "2026-11-02", "group_by": "rule"}).json()["data"]

    assert [row["evaluated"]["count"] for row in by_day] == [1] and by_day[0]["blocked"]["count"] == 0
    assert by_rule == []


@pytest.mark.parametrize("group_by", ["day", "rule"])
def test_a_range_without_assessed_payments_is_an_empty_report(api, merchant, group_by):
    assessed(merchant, "block", 900, CARD_RULE)
    query = {"start": "2026-10-01", "end": "2026-10-31", "group_by": group_by}

    report = api.get("/api/v1/reports/fraud", query).json()
    sheet = api.get("/api/v1/reports/fraud", {**query, "format": "csv"})

    assert report["data"] == []
    (header,) = sheet.content.decode().splitlines()
    assert header.startswith(f"{group_by},") and "blocked_amount" in header


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({}, "start"),
        ({"start": "2026-11-31"}, "start"),
        ({"start": "2026-11-20", "end": "2026-11-01"}, "end"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "end"),  # longer than 366 days
        ({"start": "2026-11-20", "group_by": "gateway"}, "group_by"),
        ({"start": "2026-11-20", "format": "xml"}, "format"),
    ],
)
def test_bad_fraud_report_parameters_get_the_error_envelope(api, query, param):
    response = api.get("/api/v1/reports/fraud", {**query})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_fraud_report_errors_are_json_when_csv_was_asked(api):
    response = api.get("/api/v1/reports/fraud", {"start": "2024-01-01", "end": "2026-01-01", "format": "csv"})

    assert response.status_code == 400 and response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [([], None, None), ([5], 5, 5), ([60, 600, 1800], 600, 1800), ([1, 2, 3, 4], 2, 4), (list(range(1, 11)), 5, 9)],
)
def test_time_to_decision_takes_nearest_rank_percentiles(values, median, p90):
    assert (percentile(values, 0.5), percentile(values, 0.9)) == (median, p90)


def test_the_dashboard_shows_the_risk_panel_with_money_and_the_waiting_queue(merchant, staff_client):
    now = timezone.now()
    assessed(merchant, "block", 4500, CARD_RULE, at=now)
    assessed(merchant, "block", 1234, CARD_RULE, at=now - timedelta(days=40))  # before this month
    assessed(merchant, "review", 2000, at=now, review="pending")
    assessed(merchant, "review", 2000, at=now, review="approved", decided_after=60)
    assessed(merchant, "request_3ds", 700, at=now, authentication="succeeded")

    page = staff_client(roles.FINANCE_VIEWER).get("/admin/dashboard/")
    analysts_page = staff_client(roles.RISK).get("/admin/dashboard/")

    assert page.status_code == analysts_page.status_code == 200
    assert_shows_money(page.content, shown=["45.00 USD"], bare=[4500])
    html = page.content.decode()
    assert "12.34 USD" not in html
    assert "Today: held for review</dt><dd>2</dd>" in html
    assert "Today: 3-D Secure requested</dt><dd>1</dd>" in html
    assert "Today: evaluated</dt><dd>4</dd>" in html
    # Waiting now, linked to the queue for those who may open it.
    assert 'Waiting for review now</dt><dd class="dash-alert">1</dd>' in html
    assert 'href="/admin/payments/paymentunderreview/">1</a>' in analysts_page.content.decode()
