"""`sandbox_discrepancy`: the demo's way to make the next settlement disagree with our books."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from apps.sandbox.models import AnetTransaction, SandboxFault
from tests.payments.helpers import purchase


def test_the_latest_capture_settles_for_another_amount(api, anet_account, anet_sandbox, capsys):
    purchase(api, 1000)

    call_command("sandbox_discrepancy", "amount", "--account", anet_sandbox.api_login_id, "--amount", "900")

    assert AnetTransaction.objects.get().settle_amount == 900
    assert "now run sandbox_settle" in capsys.readouterr().out


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
