"""A billing email longer than any email we hold (254 characters) is refused before the gateway."""

from __future__ import annotations

import pytest

from apps.payments.models import Payment
from apps.sandbox.models import SandboxCall
from tests.payments.helpers import VISA, purchase

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_billing_email_too_long_is_a_400_and_nothing_is_charged(api, anet_account):
    email = "a" * 250 + "@example.com"  # 262 characters: a valid form (Django's validator allows 320)

    response = purchase(api, payment_method={**VISA, "billing_details": {"email": email}})

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "payment_method.billing_details.email")
    assert not Payment.objects.exists() and not SandboxCall.objects.exists()


def test_a_customer_email_too_long_is_a_400_and_nothing_is_charged(api, anet_account):
    """The inline customer of a payment is stored (Customer.email: 254 characters): before, a
    longer valid email reached the database and answered 500."""
    email = "a" * 250 + "@example.com"

    response = purchase(api, customer={"email": email})

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "customer.email")
    assert not Payment.objects.exists() and not SandboxCall.objects.exists()
