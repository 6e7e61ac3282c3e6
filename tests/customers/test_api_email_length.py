"""A customer's email longer than its column (254 characters) is a 400, never a database error."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

TOO_LONG = "a" * 250 + "@example.com"  # 262 characters, a valid form (Django's validator allows 320)
LONGEST = "a" * 242 + "@example.com"  # 254


def test_creating_a_customer_with_an_email_too_long_is_refused_and_creates_nothing(api):
    response = api.post("/api/v1/customers", {"email": TOO_LONG, "name": "Ada"}, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "email")
    assert not Customer.objects.exists() and not AuditEvent.objects.filter(action="customer.created").exists()


def test_updating_a_customer_to_an_email_too_long_is_refused_and_changes_nothing(api):
    created = api.post("/api/v1/customers", {"email": LONGEST, "name": "Ada"}, format="json")
    assert created.status_code == 201, created.json()
    customer_id = created.json()["id"]

    response = api.patch(f"/api/v1/customers/{customer_id}", {"email": TOO_LONG}, format="json")

    assert response.status_code == 400, response.json()
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("parameter_invalid", "email")
    assert Customer.objects.get(public_id=customer_id).email == LONGEST
    assert not AuditEvent.objects.filter(action="customer.updated").exists()
