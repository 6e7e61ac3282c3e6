"""No card number, CVV or bank account number anywhere in the database or the logs, after the whole suite.

Runs last: it drives card flows of its own, then greps a dump of the test database and every
log line the suite wrote (var/test-logs.jsonl, under xdist every worker's test-logs-gwN.jsonl) for the test card numbers and CVV fields.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from django.db import connection

from apps.sandbox.authorizenet.cards import TEST_CARDS as ALL_TEST_CARDS
from tests.helpers import suite_logs
from tests.payments.helpers import VISA, purchase, settle

pytestmark = [pytest.mark.last, pytest.mark.slow]

BANK_ACCOUNT, BANK_ROUTING = "000987654321", "121042882"
# The field name must start a word: a random token that happens to end in "cvv" (a public id, an
# idempotency key) followed by an amount column in the dump is not card data.
CVV_IN_CONTEXT = re.compile(r"(?<![a-z0-9])(cvc|cvv2?|card_?code)[\"'<>:=\s]{0,6}[0-9]{3,4}(?![0-9])", re.IGNORECASE)


def database_dump() -> str:
    params = connection.settings_dict
    result = subprocess.run(
        ["pg_dump", "--data-only", "-h", params["HOST"] or "127.0.0.1", "-p", str(params["PORT"] or 5432),
         "-U", params["USER"] or "postgres", params["NAME"]],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return result.stdout


def test_no_card_number_or_cvv_in_the_database_or_logs(api, anet_account, anet_sandbox):
    for number in ALL_TEST_CARDS:
        purchase(
            api, 1234, payment_method={**VISA, "number": number, "cvc": "7319"[: 4 if number.startswith("3") else 3]}
        )
    declined = purchase(api, payment_method={**VISA, "billing_details": {"postal_code": "46282"}}).json()
    assert declined["error"]["code"] == "card_declined"
    captured = purchase(api, 5000).json()
    bank = {"type": "us_bank_account", "routing_number": BANK_ROUTING, "account_number": BANK_ACCOUNT,
            "account_type": "checking", "account_holder_name": "Ada Lovelace"}  # fmt: skip
    debited = purchase(api, 2500, payment_method=bank).json()
    assert debited["status"] == "processing"
    settle(anet_sandbox)
    assert api.post(f"/api/v1/payments/{captured['id']}/refunds", {"amount": 100}, format="json").status_code == 201

    dump = database_dump()
    logs = suite_logs()

    assert "payments_payment" in dump and len(logs) > 0
    for number in ALL_TEST_CARDS:
        assert number not in dump, f"card {number} found in the database"
        assert number not in logs, f"card {number} found in the logs"
    for number in (BANK_ACCOUNT, BANK_ROUTING):
        assert number not in dump, f"bank number {number} found in the database"
        assert number not in logs, f"bank number {number} found in the logs"
    for text, where in ((dump, "the database"), (logs, "the logs")):
        found = CVV_IN_CONTEXT.search(text)
        assert not found, f"a CVV in {where}: {text[max(0, found.start() - 120) : found.end() + 40]!r}"
