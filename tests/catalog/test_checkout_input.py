"""Checkout input the database cannot hold (an email past 254 characters) is a 400, not a 500."""

from __future__ import annotations

from apps.catalog.models import CheckoutOrder
from apps.customers.models import Customer
from apps.payments.models import Payment
from tests.catalog.helpers import start


def test_an_email_longer_than_the_column_is_a_400_and_nothing_is_created(publishable, price, rzp_account):
    email = "a" * 250 + "@example.com"  # 262 characters: a valid form, but Customer.email holds 254

    response = start(publishable, price, customer={"name": "Asha Rao", "email": email})

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "customer.email")
    assert not Customer.objects.exists() and not Payment.objects.exists() and not CheckoutOrder.objects.exists()
