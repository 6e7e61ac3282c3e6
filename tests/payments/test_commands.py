from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.payments.models import Refund
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


def test_process_refund_above_the_threshold_waits(api, anet_account, anet_sandbox, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 100}
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    out = StringIO()

    call_command("process_refund", payment["gateway_transaction_id"], "--reason", "all", stdout=out)

    assert "waiting for approval" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["pay_missing", "--reason", "x"], "No payment"), (["--reason", "x", "--amount", "abc"], "Invalid amount")],
)
def test_process_refund_errors(api, anet_account, args, message):
    payment = purchase(api).json()
    if args[0] == "--reason":
        args = [payment["id"], *args]

    with pytest.raises(CommandError, match=message):
        call_command("process_refund", *args)


def test_process_refund_refusals_are_command_errors(api, anet_account):
    payment = purchase(api).json()

    with pytest.raises(CommandError, match="not settled"):
        call_command("process_refund", payment["id"], "--reason", "too early")


@pytest.mark.django_db
def test_payment_info_unknown():
    with pytest.raises(CommandError, match="No payment"):
        call_command("payment_info", "nothing")
