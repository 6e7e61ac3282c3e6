"""The discrepancy pages speak finance, not gateway codes: the queue's "what happened" column, and
on the discrepancy's page and its resolve page the sentence, each amount once, the difference
and the receivable related in words, and what each resolution would post."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.payments.models import Payment, PaymentStatus
from apps.reconciliation.models import Discrepancy, DiscrepancyKind, LineKind, SettlementBatch, SettlementLine
from apps.reconciliation.services import reconcile
from apps.sandbox.services import anet_settlement_discrepancy
from tests.factories import PaymentFactory
from tests.payments.helpers import purchase, settle

pytestmark = pytest.mark.django_db

QUEUE = "/admin/reconciliation/discrepancy/"
SYSTEM = Actor.system("tests")
SENTENCE = "The gateway settled 9.00 USD for a payment we captured at 10.00 USD (1.00 USD less)."
WRITE_OFF = (
    "Write off 1.00 USD: debits Write-offs 1.00 USD, credits Gateway receivable 1.00 USD; the gateway receivable "
    "then holds 0.00 USD for this payment. Needs a second approver"
)
ACCEPT = (
    "Accept the gateway&#x27;s view: debits Reconciliation adjustments 1.00 USD, credits Gateway receivable "
    "1.00 USD; the gateway receivable then holds 0.00 USD for this payment."
)
ADJUST = (
    "Adjust our record: the payment&#x27;s captured amount is lowered by 1.00 USD to what the gateway settled; "
    "a capture reversal debits Sales 1.00 USD, credits Gateway receivable 1.00 USD"
)


@pytest.fixture
def settled_short(api, anet_account, anet_sandbox):
    """A payment of 10.00 Authorize.Net settled ("settledSuccessfully") as 9.00: an open amount mismatch."""
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="amount", trans_id=payment.gateway_transaction_id, amount=900, actor=SYSTEM
    )
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    return Discrepancy.objects.get()


def text_of(content: bytes) -> str:
    """The page's text between tags, whitespace collapsed (field labels and values read as one line)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", content.decode()))


def fields_of(content: bytes) -> dict[str, str]:
    """The change page's read-only fields: label → shown value."""
    html = content.decode()
    rows = re.findall(r"<label>(.*?):</label>\s*<div class=\"readonly\">(.*?)</div>", html, re.S)
    return {label: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip() for label, value in rows}


def test_the_discrepancy_page_tells_what_happened_with_each_amount_once(settled_short, staff_client):
    page = staff_client(roles.FINANCE_OPERATOR).get(f"{QUEUE}{settled_short.pk}/change/")

    shown = fields_of(page.content)
    assert page.status_code == 200
    assert shown["What happened"] == SENTENCE
    assert shown["Gateway status"] == "settled"
    assert (shown["Ours"], shown["Gateway"]) == ("10.00 USD", "9.00 USD")
    assert shown["Difference"] == "The gateway settled 1.00 USD less than we captured."
    assert shown["Gateway receivable"] == (
        "That difference, 1.00 USD, is still in the gateway receivable: the gateway owes it to us."
    )
    for sentence in (WRITE_OFF, ACCEPT, ADJUST):
        assert sentence in page.content.decode()
    # Each amount once as a field: no second form of it elsewhere (the linked rows show their ids).
    values = list(shown.values())
    assert [value for value in values if value.endswith("10.00 USD")] == ["10.00 USD"]
    assert [value for value in values if value.endswith("9.00 USD")] == ["9.00 USD"]
    assert "settledSuccessfully" not in page.content.decode()
    assert "Detail" not in shown and "-1.00 USD" not in text_of(page.content)


def test_the_resolve_page_tells_what_happened_and_what_each_resolution_posts(settled_short, staff_client):
    page = staff_client(roles.FINANCE_OPERATOR).get(f"{QUEUE}{settled_short.pk}/resolve/")

    text = text_of(page.content)
    assert page.status_code == 200
    assert f"What happened {SENTENCE}" in text
    assert "Ours 10.00 USD" in text and "Gateway's 9.00 USD" in text
    assert text.count("10.00 USD") == 2  # the sentence, and "ours"
    assert "Difference The gateway settled 1.00 USD less than we captured." in text
    assert "Gateway receivable That difference, 1.00 USD, is still in the gateway receivable" in text
    for sentence in (WRITE_OFF, ACCEPT, ADJUST):
        assert sentence in page.content.decode()
    assert "settledSuccessfully" not in page.content.decode()
    assert "Left in the receivable" not in text and "-1.00 USD" not in text


def test_the_queue_shows_what_happened_and_keeps_the_kind_filter(settled_short, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)

    queue = staff.get(QUEUE)
    mismatches = staff.get(QUEUE, {"kind": "amount_mismatch"})
    missing = staff.get(QUEUE, {"kind": "missing_on_our_side"})

    assert queue.status_code == 200
    assert "What happened" in text_of(queue.content) and SENTENCE in text_of(queue.content)
    assert "settledSuccessfully" not in queue.content.decode()
    assert SENTENCE in text_of(mismatches.content)
    assert SENTENCE not in text_of(missing.content)


def test_a_status_mismatch_reads_as_our_status_against_the_gateways(staff_client):
    payment = PaymentFactory(amount=4500, currency="USD", status=PaymentStatus.VOIDED)
    account = payment.gateway_account
    batch = SettlementBatch.objects.create(
        gateway_account=account, gateway_batch_id="b-1", settled_at=timezone.now(), currency="USD"
    )
    line = SettlementLine.objects.create(
        batch=batch,
        gateway_account=account,
        gateway_transaction_id="60012345678",
        kind=LineKind.CHARGE,
        gateway_status="settledSuccessfully",
        amount=4500,
        currency="USD",
    )
    d = Discrepancy.objects.create(
        gateway_account=account,
        kind=DiscrepancyKind.STATUS_MISMATCH,
        line=line,
        payment=payment,
        currency="USD",
        gateway_amount=4500,
        gateway_transaction_id="60012345678",
        detail="settled by the gateway; our payment did not succeed",
    )
    operator = staff_client(roles.FINANCE_OPERATOR)

    page = operator.get(f"{QUEUE}{d.pk}/change/")
    resolve = operator.get(f"{QUEUE}{d.pk}/resolve/")
    queue = operator.get(QUEUE)

    sentence = "We show this payment as voided, but the gateway settled it (45.00 USD)."
    adjust = (
        "Adjust our record: the payment becomes captured at 45.00 USD; the capture debits Gateway receivable "
        "45.00 USD, credits Sales 45.00 USD; the gateway receivable then holds 0.00 USD for this payment."
    )
    for response in (page, resolve, queue):
        assert sentence in text_of(response.content)
        assert "settledSuccessfully" not in response.content.decode()
    for response in (page, resolve):
        assert adjust in text_of(response.content)
        assert "Write off" not in text_of(response.content)  # nothing we are owed to write off
    assert fields_of(page.content)["Gateway receivable"] == (
        "The gateway receivable is 45.00 USD below zero for it: the gateway paid money our books do not show as owed."
    )
