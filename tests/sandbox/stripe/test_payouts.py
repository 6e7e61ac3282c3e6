"""Payouts and the balance in the Stripe sandbox: the payout run sweeps what is not yet paid out,
`GET /v1/balance_transactions?payout=` lists what a payout carried, manual payouts draw on the
available balance; every answer conforms to Stripe's OpenAPI schema (2023-08-16). Also the
`sandbox_settle` and `sandbox_discrepancy` commands for Stripe accounts."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import requests
import stripe
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.actors import Actor
from apps.sandbox.models import SandboxFault, StripeBalanceTransaction, StripeEvent
from apps.sandbox.stripe.balance import processing_fee
from apps.sandbox.stripe.services import stripe_payout_run, stripe_settlement_discrepancy
from tests.sandbox.stripe.openapi import assert_conforms

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = Actor.system("tests")


class Raw:
    """Plain HTTP, so that every answer (errors too) is checked against the schema."""

    def __init__(self, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, data: dict | None = None, status: int = 200) -> dict:
        url = f"{settings.STRIPE_TEST_API_BASE}/v1/{path}"
        where = {"params": data} if method == "GET" else {"data": data}
        response = requests.request(method, url, headers=self.headers, timeout=10, **where)
        assert response.status_code == status, response.text
        body = response.json()
        assert_conforms(body)
        return body


@pytest.fixture
def api(stripe_sandbox):
    return Raw(stripe_sandbox.secret_key)


@pytest.fixture
def sdk(stripe_sandbox):
    return stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


def pay(api, amount=1000, card="pm_card_visa"):
    data = {
        "amount": amount,
        "currency": "usd",
        "payment_method": card,
        "confirm": "true",
        "payment_method_types[0]": "card",
    }
    return api.call("POST", "payment_intents", data)


def run(sandbox, **kwargs):
    return stripe_payout_run(account=sandbox, actor=SYSTEM, **kwargs)


def two_days_pass():
    StripeBalanceTransaction.objects.filter(payout_id__isnull=True).update(
        available_on=timezone.now() - timedelta(seconds=1)
    )


def test_a_payout_sweeps_charges_less_fees_and_refunds_and_lists_them(api, stripe_sandbox):
    first, second = pay(api, 1000), pay(api, 2000)
    refund = api.call("POST", "refunds", {"payment_intent": first["id"], "amount": "300"})
    before = api.call("GET", "balance")

    (payout,) = run(stripe_sandbox)

    net = 1000 - processing_fee(1000) + 2000 - processing_fee(2000) - 300
    assert (processing_fee(1000), processing_fee(2000)) == (59, 88)
    assert before["pending"] == [{"amount": 1000 - 59 + 2000 - 88, "currency": "usd", "source_types": {"card": 2853}}]
    assert before["available"] == [{"amount": -300, "currency": "usd", "source_types": {"card": -300}}]
    shown = api.call("GET", f"payouts/{payout.stripe_id}", {"expand[0]": "balance_transaction"})
    assert shown["id"].startswith("po_") and shown["object"] == "payout"
    assert (shown["amount"], shown["currency"], shown["status"], shown["automatic"]) == (net, "usd", "paid", True)
    assert shown["arrival_date"] >= shown["created"] and shown["destination"].startswith("ba_")
    assert (shown["balance_transaction"]["type"], shown["balance_transaction"]["amount"]) == ("payout", -net)
    carried = api.call("GET", "balance_transactions", {"payout": payout.stripe_id, "expand[0]": "data.source"})
    by_type = sorted((txn["type"], txn["amount"], txn["fee"], txn["net"]) for txn in carried["data"])
    assert by_type == [
        ("charge", 1000, 59, 941),
        ("charge", 2000, 88, 1912),
        ("payout", -net, 0, -net),
        ("refund", -300, 0, -300),
    ]
    sources = {txn["type"]: txn["source"] for txn in carried["data"]}
    assert sources["refund"]["id"] == refund["id"] and sources["payout"]["id"] == payout.stripe_id
    assert {txn["source"]["payment_intent"] for txn in carried["data"] if txn["type"] == "charge"} == {
        first["id"],
        second["id"],
    }
    assert {txn["status"] for txn in carried["data"]} == {"available"}
    after = api.call("GET", "balance")
    assert (after["available"][0]["amount"], after["pending"][0]["amount"]) == (0, 0)
    assert run(stripe_sandbox) == []
    assert list(StripeEvent.objects.filter(type__startswith="payout.").values_list("type", flat=True)) == [
        "payout.created",
        "payout.paid",
    ]
    api.call("GET", "events", {"type": "payout.paid"})


def test_funds_not_yet_available_wait_when_the_run_takes_available_funds_only(api, stripe_sandbox):
    pay(api, 1000)
    assert run(stripe_sandbox, available_only=True) == []
    two_days_pass()

    (payout,) = run(stripe_sandbox, available_only=True)

    assert payout.amount == 1000 - 59


def test_a_balance_that_is_not_positive_is_not_paid_out(api, stripe_sandbox):
    paid = pay(api, 1000)
    run(stripe_sandbox)
    api.call("POST", "refunds", {"payment_intent": paid["id"]})

    assert run(stripe_sandbox) == []
    assert api.call("GET", "balance")["available"][0]["amount"] == -1000


def test_a_manual_payout_draws_on_the_available_balance(api, stripe_sandbox):
    empty = api.call("GET", "balance")
    assert empty["available"] == [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
    pay(api, 2000)
    refused = api.call("POST", "payouts", {"amount": "100", "currency": "usd"}, status=400)
    assert refused["error"]["code"] == "balance_insufficient"  # still pending
    two_days_pass()

    manual = api.call("POST", "payouts", {"amount": "1000", "currency": "usd", "metadata[batch]": "m1"})

    assert (manual["automatic"], manual["reconciliation_status"], manual["metadata"]) == (
        False,
        "not_applicable",
        {"batch": "m1"},
    )
    assert api.call("GET", "balance")["available"][0]["amount"] == 2000 - 88 - 1000
    assert api.call("POST", "payouts", {"amount": "1000", "currency": "usd"}, status=400)["error"]["code"] == (
        "balance_insufficient"
    )
    unlisted = api.call("GET", "balance_transactions", {"payout": manual["id"]}, status=400)
    assert unlisted["error"]["message"].startswith("Balance transaction history can only be filtered on automatic")
    (automatic,) = run(stripe_sandbox)
    assert automatic.amount == 2000 - 88 - 1000
    carried = api.call("GET", "balance_transactions", {"payout": automatic.stripe_id})
    assert sorted(txn["source"] for txn in carried["data"] if txn["type"] == "payout") == sorted(
        [manual["id"], automatic.stripe_id]
    )


def test_payouts_are_listed_newest_first_in_pages_and_filtered(api, sdk, stripe_sandbox):
    ids = []
    for amount in (1000, 2000, 3000):
        pay(api, amount)
        ids.append(run(stripe_sandbox)[0].stripe_id)
    newest_first = ids[::-1]

    first = api.call("GET", "payouts", {"limit": "2"})
    rest = api.call("GET", "payouts", {"limit": "2", "starting_after": first["data"][-1]["id"]})
    back = api.call("GET", "payouts", {"limit": "2", "ending_before": newest_first[2]})

    assert ([p["id"] for p in first["data"]], first["has_more"], first["url"]) == (
        newest_first[:2],
        True,
        "/v1/payouts",
    )
    assert ([p["id"] for p in rest["data"]], rest["has_more"]) == (newest_first[2:], False)
    assert ([p["id"] for p in back["data"]], back["has_more"]) == (newest_first[:2], False)
    assert [p.id for p in sdk.v1.payouts.list(params={"limit": 1}).auto_paging_iter()] == newest_first
    now = int(timezone.now().timestamp())
    arrived = sdk.v1.payouts.list(params={"arrival_date": {"gte": now - 60, "lt": now + 60}, "status": "paid"})
    assert [p.id for p in arrived.data] == newest_first
    assert sdk.v1.payouts.list(params={"arrival_date": {"gte": now + 60}}).data == []
    assert sdk.v1.payouts.list(params={"created": {"lt": now - 60}}).data == []
    assert sdk.v1.payouts.list(params={"status": "failed"}).data == []
    assert sdk.v1.payouts.retrieve(ids[0]).amount == 1000 - 59
    assert sdk.v1.balance.retrieve().available[0].amount == 0


def test_payout_errors(api, sdk, stripe_sandbox):
    missing = api.call("GET", "payouts/po_missing", status=404)
    assert (missing["error"]["code"], missing["error"]["message"]) == (
        "resource_missing",
        "No such payout: 'po_missing'",
    )
    assert api.call("GET", "balance_transactions", {"payout": "po_missing"})["data"] == []
    assert api.call("GET", "payouts", {"status": "lost"}, status=400)["error"]["param"] == "status"
    assert api.call("GET", "payouts", {"bogus": "1"}, status=400)["error"]["code"] == "parameter_unknown"
    assert api.call("GET", "payouts", {"limit": "101"}, status=400)["error"]["param"] == "limit"
    assert api.call("GET", "payouts", {"arrival_date[after]": "1"}, status=400)["error"]["code"] == "parameter_unknown"
    assert api.call("GET", "payouts", {"starting_after": "po_nope"}, status=404)["error"]["param"] == "starting_after"
    assert api.call("POST", "payouts", {"currency": "usd"}, status=400)["error"]["param"] == "amount"
    assert api.call("POST", "payouts", {"amount": "0", "currency": "usd"}, status=400)["error"]["param"] == "amount"
    assert api.call("POST", "payouts", {"amount": "10"}, status=400)["error"]["param"] == "currency"
    wrong_bank = api.call("POST", "payouts", {"amount": "10", "currency": "usd", "destination": "ba_x"}, status=404)
    assert wrong_bank["error"]["param"] == "destination"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.payouts.create(params={"amount": 10, "currency": "usd"})
    assert refused.value.code == "balance_insufficient"


def test_injected_discrepancies_change_what_the_next_payout_carries(api, stripe_sandbox):
    held, short = pay(api, 1000), pay(api, 2000)
    stripe_settlement_discrepancy(account=stripe_sandbox, kind="missing", transaction_id=held["id"], actor=SYSTEM)
    stripe_settlement_discrepancy(
        account=stripe_sandbox, kind="amount", transaction_id=short["latest_charge"], amount=1500, actor=SYSTEM
    )
    stranger = stripe_settlement_discrepancy(account=stripe_sandbox, kind="unknown", amount=4200, actor=SYSTEM)

    (payout,) = run(stripe_sandbox)

    carried = api.call("GET", "balance_transactions", {"payout": payout.stripe_id, "type": "charge"})
    assert sorted((txn["amount"], txn["fee"], txn["net"]) for txn in carried["data"]) == [
        (1500, 88, 1412),
        (4200, processing_fee(4200), 4200 - processing_fee(4200)),
    ]
    assert payout.amount == 1412 + 4200 - processing_fee(4200)
    assert stranger.stripe_id.startswith("pi_") and stranger.status == "succeeded"
    assert StripeBalanceTransaction.objects.get(type="charge", payout_id__isnull=True).amount == 1000
    with pytest.raises(StripeBalanceTransaction.DoesNotExist):  # paid out already
        stripe_settlement_discrepancy(account=stripe_sandbox, kind="missing", transaction_id=short["id"], actor=SYSTEM)
    with pytest.raises(ValueError, match="needs the amount"):
        stripe_settlement_discrepancy(account=stripe_sandbox, kind="amount", transaction_id=held["id"], actor=SYSTEM)
    fault = stripe_settlement_discrepancy(account=stripe_sandbox, kind="refund_we_think_failed", actor=SYSTEM)
    assert (fault.gateway, fault.kind, fault.match) == (
        "stripe",
        SandboxFault.Kind.MISREPORT_DECLINED,
        "refunds.create",
    )


def test_the_commands_inject_and_pay_out_for_a_stripe_account(api, stripe_sandbox):
    out = StringIO()
    account = stripe_sandbox.stripe_id
    with pytest.raises(CommandError, match="make a payment first"):
        call_command("sandbox_discrepancy", "amount", "--account", account, "--amount", "900")
    paid = pay(api, 1000)

    call_command("sandbox_discrepancy", "amount", "--account", account, "--amount", "900", stdout=out)
    call_command("sandbox_settle", "--account", account, stdout=out)
    call_command("sandbox_settle", "--account", account, stdout=out)

    assert (
        f"Injected an amount discrepancy: transaction {paid['id']} goes into the next payout for 9.00 USD "
        "instead of 10.00 USD; now run sandbox_settle, then reconcile."
    ) in out.getvalue()
    charge = StripeBalanceTransaction.objects.get(type="charge")
    assert (charge.amount, charge.net) == (900, 900 - 59)
    assert f"Paid out {charge.payout_id} for {account}: 8.41 USD, 1 transactions" in out.getvalue()
    assert "Nothing to settle." in out.getvalue()
    with pytest.raises(CommandError, match="No unsettled transaction"):
        call_command("sandbox_discrepancy", "missing", "--account", account, "--trans-id", paid["id"])
    with pytest.raises(CommandError, match="No sandbox account"):
        call_command("sandbox_settle", "--account", "acct_nobody")
