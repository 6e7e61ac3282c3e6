"""`sandbox_discrepancy`: the demo's way to make the next settlement disagree with our books."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from apps.sandbox.models import AnetTransaction, SandboxFault
from tests.payments.helpers import purchase


def test_the_latest_capture_settles_for_another_amount(api, anet_account, anet_sandbox, capsys):
    purchase(api, 1000)

    call_command("sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id, "--amount", "900")

    transaction = AnetTransaction.objects.get()
    assert transaction.settle_amount == 900
    assert capsys.readouterr().out == (
        f"Injected an amount discrepancy: transaction {transaction.trans_id} goes into the next settlement for "
        "9.00 USD instead of 10.00 USD; now run sandbox_settle, then reconcile.\n"
    )


def test_a_held_transaction_and_an_unknown_charge_are_told_with_their_money(api, anet_account, anet_sandbox, capsys):
    purchase(api, 1000)
    held = AnetTransaction.objects.get()

    call_command("sandbox_discrepancy", "missing", "--account", anet_sandbox.api_login_id)
    call_command("sandbox_discrepancy", "unknown", "--account", anet_sandbox.api_login_id, "--amount", "4250")

    unknown = AnetTransaction.objects.exclude(pk=held.pk).get()
    assert capsys.readouterr().out.splitlines() == [
        f"Injected a missing settlement: transaction {held.trans_id} of 10.00 USD is held out of the next "
        "settlement; now run sandbox_settle, then reconcile.",
        f"Injected an unknown charge: transaction {unknown.trans_id} of 42.50 USD, which our books never saw; "
        "now run sandbox_settle, then reconcile.",
    ]


def test_unknown_and_misreported_refund(anet_sandbox):
    call_command("sandbox_discrepancy", "unknown", "--account", anet_sandbox.api_login_id, "--amount", "4200")
    call_command("sandbox_discrepancy", "refund_we_think_failed", "--account", anet_sandbox.api_login_id)

    assert AnetTransaction.objects.get().settle_amount == 4200
    assert SandboxFault.objects.get().kind == "misreport_declined"


def test_bad_requests_are_refused(api, anet_account, anet_sandbox):
    with pytest.raises(CommandError, match="No sandbox account"):
        call_command("sandbox_discrepancy", "missing", "--account", "nobody")
    with pytest.raises(CommandError, match="make a payment first"):
        call_command("sandbox_discrepancy", "missing", "--account", anet_sandbox.api_login_id)
    with pytest.raises(CommandError, match="No unsettled transaction 1 at"):
        call_command("sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id, "--trans-id", "1")
    purchase(api, 1000)
    with pytest.raises(CommandError, match="needs the amount"):
        call_command("sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id)
    for amount in ("9.00", "0", "-900", "lots"):
        with pytest.raises(CommandError, match=rf"--amount: must be an amount in minor units .*; got '{amount}'"):
            call_command("sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id, "--amount", amount)
    with pytest.raises(CommandError, match="No unsettled transaction 99999999999999999999999 at"):
        call_command(
            "sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id,
            "--trans-id", "99999999999999999999999", "--amount", "900",
        )  # fmt: skip
    assert AnetTransaction.objects.get().settle_amount == 1000
