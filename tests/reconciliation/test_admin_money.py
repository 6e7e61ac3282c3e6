"""Finance staff see money as money on every reconciliation page of the admin: the discrepancy
queue, its page, the resolve and write-off pages and their messages, settlement batches and lines,
in the currency's own decimals (USD 2, JPY 0, KWD 3), never as bare minor units. Ids in messages
keep their case."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.ledger.models import EntryKind, JournalEntry
from apps.reconciliation.models import Discrepancy, DiscrepancyKind, LineKind, SettlementBatch, SettlementLine
from tests.factories import GatewayAccountFactory, PaymentFactory
from tests.helpers import assert_id_keeps_its_case, assert_shows_money

pytestmark = pytest.mark.django_db

QUEUE = "/admin/reconciliation/discrepancy/"
# We booked 4500, the gateway settled 2000: 2500 left in the receivable, to write off.
CURRENCIES = {
    "USD": ("45.00 USD", "20.00 USD", "25.00 USD"),
    "JPY": ("4,500 JPY", "2,000 JPY", "2,500 JPY"),
    "KWD": ("4.500 KWD", "2.000 KWD", "2.500 KWD"),
}
BARE = [4500, 2000, 2500]


@pytest.fixture(params=sorted(CURRENCIES))
def currency(request):
    return request.param


@pytest.fixture
def short_paid(currency) -> Discrepancy:
    return Discrepancy.objects.create(
        gateway_account=GatewayAccountFactory(),
        kind=DiscrepancyKind.AMOUNT_MISMATCH,
        currency=currency,
        our_amount=4500,
        gateway_amount=2000,
        gateway_transaction_id="60012345678",
        detail="settled for less",
    )


def test_the_queue_and_the_discrepancy_page_show_money(short_paid, currency, staff_client):
    ours, theirs, _ = CURRENCIES[currency]
    viewer = staff_client(roles.FINANCE_VIEWER)

    queue = viewer.get(QUEUE)
    page = viewer.get(f"{QUEUE}{short_paid.pk}/change/")

    assert page.status_code == 200
    assert_shows_money(queue.content, shown=[ours, theirs], bare=BARE)
    assert_shows_money(page.content, shown=[ours, theirs], bare=BARE)


def test_the_resolve_page_shows_both_amounts_and_the_residual_as_money(short_paid, currency, staff_client):
    ours, theirs, residual = CURRENCIES[currency]

    page = staff_client(roles.FINANCE_OPERATOR).get(f"{QUEUE}{short_paid.pk}/resolve/")

    assert page.status_code == 200
    assert_shows_money(page.content, shown=[ours, theirs, residual], bare=BARE)


def test_a_write_off_shows_its_money_on_request_decision_and_resolved_page(short_paid, currency, staff_client):
    _, _, residual = CURRENCIES[currency]
    operator = staff_client(roles.FINANCE_OPERATOR)
    requested_by = operator.user.username
    requested = operator.post(
        f"{QUEUE}{short_paid.pk}/resolve/", {"resolution": "write_off", "note": "short-paid"}, follow=True
    )
    approver = staff_client(roles.FINANCE_APPROVER)  # the same test client, signed in as another user

    decision_page = approver.get(f"{QUEUE}{short_paid.pk}/decide/")
    approved = approver.post(f"{QUEUE}{short_paid.pk}/decide/", {"decision": "approve", "note": "ok"}, follow=True)

    public_id = short_paid.public_id
    assert Discrepancy.objects.get().status == Discrepancy.Status.RESOLVED
    assert JournalEntry.objects.get(kind=EntryKind.WRITE_OFF).amount == 2500
    assert f"Write-off of {residual} requested for discrepancy {public_id}".encode() in requested.content
    assert_shows_money(decision_page.content, shown=[f"{requested_by} — {residual} — “short-paid”"], bare=BARE)
    assert f"Write-off of {residual} for discrepancy {public_id} approved: resolved.".encode() in approved.content
    assert_shows_money(approved.content, shown=[residual], bare=BARE)  # the resolved page, with its amount
    for response in (requested, approved):
        assert_id_keeps_its_case(response.content, public_id)


def test_a_rejected_write_off_says_so_with_its_money(short_paid, currency, staff_client):
    _, _, residual = CURRENCIES[currency]
    staff_client(roles.FINANCE_OPERATOR).post(f"{QUEUE}{short_paid.pk}/resolve/", {"resolution": "write_off"})

    rejected = staff_client(roles.FINANCE_APPROVER).post(
        f"{QUEUE}{short_paid.pk}/decide/", {"decision": "reject", "note": "chase it"}, follow=True
    )

    assert Discrepancy.objects.get().status == Discrepancy.Status.OPEN
    message = f"Write-off of {residual} for discrepancy {short_paid.public_id} rejected: open."
    assert message.encode() in rejected.content
    assert_id_keeps_its_case(rejected.content, short_paid.public_id)


def test_a_currency_mismatch_shows_our_amount_in_our_currency(staff_client):
    payment = PaymentFactory(amount=4500, currency="JPY", captured=True)
    ours = JournalEntry.objects.get(payment=payment, kind=EntryKind.CAPTURE)
    d = Discrepancy.objects.create(
        gateway_account=payment.gateway_account,
        kind=DiscrepancyKind.CURRENCY_MISMATCH,
        currency="USD",
        entry=ours,
        payment=payment,
        our_amount=4500,
        gateway_amount=3000,
    )
    viewer = staff_client(roles.FINANCE_VIEWER)

    page = viewer.get(f"{QUEUE}{d.pk}/change/")
    queue = viewer.get(QUEUE)

    for content in (page.content, queue.content):
        assert_shows_money(content, shown=["4,500 JPY", "30.00 USD"], bare=[4500, 3000])
        assert b"45.00 USD" not in content


def test_settlement_batch_and_line_pages_show_money(currency, staff_client):
    account = GatewayAccountFactory()
    batch = SettlementBatch.objects.create(
        gateway_account=account,
        gateway_batch_id="batch-1",
        settled_at=timezone.now(),
        currency=currency,
        line_count=1,
        charges_amount=4500,
        refunds_amount=2000,
        fees_amount=125,
        payout_amount=2375,
    )
    line = SettlementLine.objects.create(
        batch=batch,
        gateway_account=account,
        gateway_transaction_id="60012345678",
        kind=LineKind.CHARGE,
        amount=4500,
        currency=currency,
        fee=2000,
        tax=125,
    )
    shown = {
        "USD": ["45.00 USD", "20.00 USD", "1.25 USD", "23.75 USD"],
        "JPY": ["4,500 JPY", "2,000 JPY", "125 JPY", "2,375 JPY"],
        "KWD": ["4.500 KWD", "2.000 KWD", "0.125 KWD", "2.375 KWD"],
    }[currency]
    viewer = staff_client(roles.FINANCE_VIEWER)

    pages = [
        viewer.get("/admin/reconciliation/settlementbatch/"),
        viewer.get(f"/admin/reconciliation/settlementbatch/{batch.pk}/change/"),
        viewer.get(f"/admin/reconciliation/settlementline/{line.pk}/change/"),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert_shows_money(pages[0].content, shown=shown, bare=[4500, 2000, 2375])
    assert_shows_money(pages[1].content, shown=shown, bare=[4500, 2000, 2375])
    assert_shows_money(pages[2].content, shown=shown[:3], bare=[4500, 2000])
