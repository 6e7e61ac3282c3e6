"""Reports over the API (JSON and CSV) and the finance dashboard in the admin."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.reconciliation.services import reconcile
from tests.payments.helpers import VISA, purchase, settle

DECLINE = {**VISA, "billing_details": {"postal_code": "46282"}}


def today() -> str:
    return timezone.now().date().isoformat()


def test_the_transaction_report_groups_by_day_and_gateway(api, anet_account):
    purchase(api, 1000)
    purchase(api, 2500)
    purchase(api, 700, payment_method=DECLINE)

    by_day = api.get("/api/v1/reports/transactions", {"start": today()}).json()
    by_gateway = api.get("/api/v1/reports/transactions", {"start": today(), "group_by": "gateway"}).json()

    (row,) = by_day["data"]
    assert (row["day"], row["currency"], row["payments"], row["approved"], row["declined"]) == (today(), "USD", 3, 2, 1)
    assert (row["captured"], row["refunded"], row["net"], row["approval_rate"]) == (3500, 0, 3500, 0.6667)
    assert by_gateway["data"][0]["gateway"] == "authorizenet"
    assert (by_day["object"], by_day["report"], by_day["group_by"]) == ("report", "transactions", "day")


def test_reports_come_as_csv(api, anet_account):
    purchase(api, 1000)

    response = api.get("/api/v1/reports/transactions", {"start": today(), "format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["captured"] == "1000" and rows[0]["currency"] == "USD"


def test_the_settlement_report_sums_what_was_settled(api, anet_account, anet_sandbox):
    purchase(api, 1000)
    purchase(api, 2000)
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=Actor.system("tests"))

    report = api.get("/api/v1/reports/settlements", {"start": today(), "group_by": "gateway"}).json()

    (row,) = report["data"]
    assert (row["gateway"], row["batches"], row["lines"], row["charges"], row["payout"]) == (
        "authorizenet",
        1,
        2,
        3000,
        3000,
    )


def test_another_merchants_payments_are_not_reported(api, anet_account, other_merchant, issue_key, client_for):
    purchase(api, 1000)
    other = client_for(issue_key(other_merchant).secret)

    assert other.get("/api/v1/reports/transactions", {"start": today()}).json()["data"] == []


def test_bad_report_parameters_get_the_error_envelope(api):
    missing = api.get("/api/v1/reports/transactions")
    backwards = api.get("/api/v1/reports/transactions", {"start": "2026-11-20", "end": "2026-11-01"})
    too_long = api.get("/api/v1/reports/settlements", {"start": "2024-01-01", "end": "2026-01-01"})
    bad_group = api.get("/api/v1/reports/transactions", {"start": "2026-11-20", "group_by": "hour"})

    for response in (missing, backwards, too_long, bad_group):
        assert response.status_code == 400, response.content
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert backwards.json()["error"]["param"] == "end"


def test_the_dashboard_shows_the_day_offline_with_a_fixed_number_of_queries(api, anet_account, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)
    purchase(api, 1000)
    with CaptureQueriesContext(connection) as few:
        first = staff.get("/admin/dashboard/")
    for amount in (2000, 3000, 4000):
        purchase(api, amount)
    purchase(api, 500, payment_method=DECLINE)
    with CaptureQueriesContext(connection) as more:
        page = staff.get("/admin/dashboard/")

    assert first.status_code == page.status_code == 200
    assert len(few.captured_queries) == len(more.captured_queries)
    html = page.content.decode()
    for text in ("Finance dashboard", "100.00 USD", "80.0%", "Open discrepancies", "Subscriptions in dunning", "<svg"):
        assert text in html, text
    assert not re.search(r'(src|href)="https?://', html)  # nothing loaded from elsewhere
    assert "Finance dashboard" in staff.get("/admin/").content.decode()


def test_the_dashboard_needs_the_view_permission(db, staff_client):
    assert staff_client(roles.OPS).get("/admin/dashboard/").status_code == 200  # ops may view payments
    assert staff_client().get("/admin/dashboard/").status_code == 403


def test_closed_days_come_from_the_daily_totals_with_the_same_figures(api, anet_account):
    from datetime import timedelta

    from apps.payments.models import Payment
    from apps.reports.models import DailyTotal, DailyTotalDay
    from apps.reports.selectors import dashboard
    from apps.reports.services import daily_totals_catch_up
    from apps.reports.tasks import daily_totals_refresh

    now = timezone.now()
    for amount, days_ago in ((1000, 1), (2000, 2), (3000, 0)):
        body = purchase(api, amount).json()
        Payment.objects.filter(public_id=body["id"]).update(created_at=now - timedelta(days=days_ago))
    declined = purchase(api, 700, payment_method=DECLINE).json()
    Payment.objects.filter(public_id=declined["error"]["payment"]).update(created_at=now - timedelta(days=1))
    live = dashboard(now)

    written = daily_totals_catch_up(recent_days=3)

    assert written == 2 and DailyTotalDay.objects.count() == 62
    yesterday = DailyTotal.objects.get(day=now.date() - timedelta(days=1))
    assert (yesterday.payments, yesterday.approved, yesterday.declined, yesterday.captured) == (2, 1, 1, 1000)
    rolled = dashboard(now)
    assert rolled["periods"] == live["periods"]
    assert rolled["daily"] == live["daily"]
    assert daily_totals_refresh() == 2  # the beat task: recent days again, idempotent
    assert DailyTotal.objects.count() == 2


@pytest.mark.django_db
def test_bank_debits_count_as_approved_and_a_return_comes_off_the_net():
    from apps.payments.models import Payment, PaymentMethodType
    from apps.reports.selectors import transaction_report
    from tests.factories import PaymentFactory
    from tests.merchants.factories import MerchantFactory

    merchant = MerchantFactory()
    for status in ("processing", "returned", "captured"):
        payment = PaymentFactory(
            merchant=merchant, captured=True, amount=1000, payment_method_type=PaymentMethodType.US_BANK_ACCOUNT
        )
        Payment.objects.filter(pk=payment.pk).update(status=status)
    today = timezone.now().date()

    (row,) = transaction_report(start=today, end=today, group_by="day", merchant_id=merchant.pk)

    assert (row["approved"], row["captured"], row["returned"], row["net"]) == (3, 3000, 1000, 2000)
