"""The Customer model moved from the payments app to the customers app in the migration state only:
on a database that holds rows, every customer, and every payment's and card's link to it, is still
there afterwards, read through the new app."""

from __future__ import annotations

import pytest

# The migrator rebuilds the database up to the targets, so the ledger check after the test has no
# ledger to read; the migrator migrates everything forward again afterwards.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.ledger_unchecked]

BEFORE = [("payments", "0005_refund_request_reference"), ("customers", "0001_initial")]
AFTER = [("payments", "0006_customer_moves_out"), ("customers", "0002_customer_moves_in")]


def test_customers_and_what_points_at_them_survive_the_move(migrator):
    old = migrator.apply_initial_migration(BEFORE)
    merchant = old.apps.get_model("merchants", "Merchant").objects.create(slug="moved", name="Moved")
    account = old.apps.get_model("gateways", "GatewayAccount").objects.create(
        merchant=merchant, gateway="authorizenet", mode="test", credentials_ciphertext="x"
    )
    customer = old.apps.get_model("payments", "Customer").objects.create(
        public_id="cus_moved", merchant=merchant, email="ada@example.com"
    )
    old.apps.get_model("payments", "Payment").objects.create(
        public_id="pay_moved", merchant=merchant, gateway_account=account, customer=customer, amount=100, currency="USD"
    )
    old.apps.get_model("customers", "PaymentMethod").objects.create(
        public_id="pm_moved", merchant=merchant, customer=customer, gateway_account=account,
        profile=old.apps.get_model("customers", "VaultProfile").objects.create(
            customer=customer, gateway_account=account, customer_token="1"
        ),
        payment_token="2",
    )  # fmt: skip

    new = migrator.apply_tested_migration(AFTER)

    moved = new.apps.get_model("customers", "Customer").objects.get()
    assert (moved.public_id, moved.email) == ("cus_moved", "ada@example.com")
    assert new.apps.get_model("payments", "Payment").objects.get().customer.public_id == "cus_moved"
    assert new.apps.get_model("customers", "PaymentMethod").objects.get().customer.public_id == "cus_moved"
