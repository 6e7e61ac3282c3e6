from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.payments.models import Refund
from apps.sandbox.models import AnetTransaction
from tests.payments.helpers import purchase, settle


def test_process_refund_and_payment_info(api, anet_account, anet_sandbox):
    payment = purchase(api, 1000, reference="order-77").json()
    settle(anet_sandbox)
    out = StringIO()

    call_command("process_refund", payment["id"], "--amount", "2.50", "--reason", "goodwill", stdout=out)
    call_command("payment_info", "order-77", stdout=out)

    text = out.getvalue()
    assert "of 2.50 USD: succeeded" in text
    assert payment["id"] in text and "refund" in text and "payment.captured" in text
    assert Refund.objects.get().amount == 250


def test_process_refund_run_again_with_its_reference_refunds_once(api, anet_account, anet_sandbox):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    first, again = StringIO(), StringIO()
    args = ("process_refund", payment["id"], "--amount", "2.50", "--reason", "goodwill", "--reference", "T-1234")

    call_command(*args, stdout=first)
    call_command(*args, stdout=again)  # an operator re-running it after a timeout
    call_command(*args[:-1], "T-1235", stdout=StringIO())  # another ticket: another refund

    refund = Refund.objects.order_by("id").first()
    assert first.getvalue() == again.getvalue() == f"Refund {refund.public_id} of 2.50 USD: succeeded.\n"
    assert Refund.objects.count() == 2
    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 2


def test_process_refund_above_the_threshold_waits(api, anet_account, anet_sandbox, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 100}
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    out = StringIO()

    call_command("process_refund", payment["gateway_transaction_id"], "--reason", "all", stdout=out)

    assert "waiting for approval" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pay_missing", "--reason", "x"], "No payment"),
        (["--reason", "x", "--amount", "abc"], "--amount must be an amount above zero in the payment's currency, USD"),
    ],
)
def test_process_refund_errors(api, anet_account, args, message):
    payment = purchase(api).json()
    if args[0] == "--reason":
        args = [payment["id"], *args]

    with pytest.raises(CommandError, match=message):
        call_command("process_refund", *args)


@pytest.mark.parametrize("amount", ["abc", "12,50", "0", "-1", "2.505", "NaN", "Infinity", "1e999999", ""])
def test_process_refund_says_what_amount_it_expects_and_refunds_nothing(api, anet_account, anet_sandbox, amount):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)

    with pytest.raises(CommandError) as refused:
        call_command("process_refund", payment["id"], "--amount", amount, "--reason", "typo")

    assert str(refused.value) == (
        "--amount must be an amount above zero in the payment's currency, USD (at most 2 decimal places), "
        f"such as 12.50; got {amount!r}"
    )
    assert not Refund.objects.exists()


def test_process_refund_refusals_are_command_errors(api, anet_account):
    payment = purchase(api).json()

    with pytest.raises(CommandError, match="not settled"):
        call_command("process_refund", payment["id"], "--reason", "too early")


@pytest.mark.django_db
def test_payment_info_unknown():
    with pytest.raises(CommandError, match="No payment"):
        call_command("payment_info", "nothing")


def audit_lines(text: str) -> list[tuple[str, str]]:
    """(action, target id) of each line of payment_info's audit trail."""
    trail = text.split("Audit trail")[1].splitlines()[1:]
    return [(line.split()[2], line.split()[3]) for line in trail if line.strip()]


def test_payment_info_shows_the_payment_and_its_refunds_in_one_timeline(api, anet_account, anet_sandbox):
    payment = purchase(api, 1000, reference="order-88").json()
    other = purchase(api, 700, reference="order-89").json()
    settle(anet_sandbox)
    for refunded, amount in ((payment, "2.50"), (other, "1.00"), (payment, "3.00")):
        call_command("process_refund", refunded["id"], "--amount", amount, "--reason", "goodwill", stdout=StringIO())
    first, second = Refund.objects.filter(payment__public_id=payment["id"]).order_by("id")
    out = StringIO()

    call_command("payment_info", payment["id"], stdout=out)

    shown = audit_lines(out.getvalue())
    ours = AuditEvent.objects.filter(
        target_type__in=["payments.payment", "payments.refund"],
        target_id__in=[payment["id"], first.public_id, second.public_id],
    ).order_by("id")
    assert shown == [(event.action, event.target_id) for event in ours]
    times = [event.occurred_at for event in ours]
    assert times == sorted(times)
    targets = [target for _action, target in shown]
    assert {payment["id"], first.public_id, second.public_id} == set(targets)
    assert targets.index(payment["id"]) < targets.index(first.public_id) < targets.index(second.public_id)
    assert other["id"] not in out.getvalue()
