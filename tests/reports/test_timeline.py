"""The timeline on the payment and customer change pages: every event, oldest first, one query per source."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import roles
from apps.customers.models import Customer
from apps.payments.models import Payment
from apps.reconciliation.tasks import reconcile_account
from apps.reports.timeline import payment_timeline
from tests.payments.helpers import purchase, settle


def payment_page(payment: Payment) -> str:
    return f"/admin/payments/payment/{payment.pk}/change/"


def timeline_rows(content: bytes) -> list[list[str]]:
    """The timeline table's rows, each as its cells' text."""
    section = content.decode().split('id="timeline"', 1)[1]
    rows = re.findall(r'<tr class="timeline-entry">(.*?)</tr>', section, re.S)
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def refund(api, payment: Payment, amount: int, reason: str = "damaged") -> dict:
    response = api.post(
        f"/api/v1/payments/{payment.public_id}/refunds", {"amount": amount, "reason": reason}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def refunded_and_reconciled(api, anet_account, anet_sandbox) -> Payment:
    """A payment of 10.00 USD made through the API, settled, refunded 3.00 USD, settled and reconciled."""
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    settle(anet_sandbox)
    refund(api, payment, 300)
    settle(anet_sandbox)
    reconcile_account(anet_account.pk, timezone.now().date().isoformat())
    return payment


def test_a_payment_shows_every_kind_of_event_in_time_order(refunded_and_reconciled, staff_client):
    payment = refunded_and_reconciled
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(payment_page(payment))

    assert page.status_code == 200
    rows = timeline_rows(page.content)
    times = [row[0] for row in rows]
    assert times == sorted(times)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time) for time in times)
    kinds = [row[1] for row in rows]
    assert {"Gateway call", "Refund", "Ledger", "Settlement", "Audit"} <= set(kinds)
    text = [" | ".join(row) for row in rows]
    charge = next(i for i, line in enumerate(text) if "Gateway call | Sale" in line and "10.00 USD" in line)
    refund_call = next(i for i, line in enumerate(text) if "Gateway call | Refund 3.00 USD: succeeded" in line)
    requested = next(i for i, line in enumerate(text) if "Refund of 3.00 USD requested because: damaged" in line)
    capture_entry = next(i for i, line in enumerate(text) if "Ledger | Capture of 10.00 USD posted" in line)
    refund_entry = next(i for i, line in enumerate(text) if "Ledger | Refund of 3.00 USD posted" in line)
    settled = [i for i, line in enumerate(text) if "Settlement |" in line]
    assert charge < requested < refund_call and capture_entry < refund_entry
    assert len(settled) == 2 and all("matched to je_" in text[i] for i in settled)
    assert any("Audit" in line and payment.public_id in line and "(API key)" in line for line in text)
    assert charge < min(settled)
    # Money is always shown with its currency, never in minor units.
    assert not any(re.search(r"\b(1000|300) USD", line) for line in text)
    # A finance viewer gets links to the records their role may open, and none to the rest.
    assert f"/admin/payments/refund/{payment.refunds.get().pk}/change/" in page.content.decode()
    assert "/admin/audit/auditevent/" not in page.content.decode().split('id="timeline"', 1)[1]


def test_the_timeline_selector_orders_entries_and_bounds_them(refunded_and_reconciled):
    full = payment_timeline(payment=refunded_and_reconciled)
    short = payment_timeline(payment=refunded_and_reconciled, limit=3)

    assert [entry.at for entry in full.entries] == sorted(entry.at for entry in full.entries)
    assert not full.truncated
    assert short.truncated and len(short.entries) == 3
    assert [entry.at for entry in short.entries] == [entry.at for entry in full.entries[-3:]]


def test_the_payment_page_makes_as_many_queries_for_10_events_as_for_2(api, anet_account, anet_sandbox, staff_client):
    small = Payment.objects.get(public_id=purchase(api, 1000, reference="small").json()["id"])
    large = Payment.objects.get(public_id=purchase(api, 5000, reference="large").json()["id"])
    settle(anet_sandbox)
    refund(api, small, 100)
    for _ in range(4):
        refund(api, large, 100)
    viewer = staff_client(roles.FINANCE_VIEWER)
    viewer.get(payment_page(small))  # warm the session and permission caches alike for both

    with CaptureQueriesContext(connection) as few:
        small_page = viewer.get(payment_page(small))
    with CaptureQueriesContext(connection) as many:
        large_page = viewer.get(payment_page(large))

    assert len(timeline_rows(large_page.content)) >= len(timeline_rows(small_page.content)) + 8
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_customer_page_shows_their_payments_events(api, anet_account, staff_client):
    first = purchase(api, 1200, customer={"email": "ada@example.com", "name": "Ada"}).json()
    customer = Customer.objects.get(public_id=first["customer"])
    second = purchase(api, 3400, customer=customer.public_id).json()
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(f"/admin/customers/customer/{customer.pk}/change/")

    assert page.status_code == 200
    text = [" | ".join(row) for row in timeline_rows(page.content)]
    assert any("Payment of 12.00 USD on" in line and first["id"] in line for line in text)
    assert any("Payment of 34.00 USD" in line and second["id"] in line for line in text)
    assert sum("Gateway call | Sale" in line for line in text) == 2
    times = [line.split(" | ")[0] for line in text]
    assert times == sorted(times)
