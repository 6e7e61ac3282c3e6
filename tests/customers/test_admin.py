"""Customers are read-only in the admin, for superusers too: they change through the API's audited
services, so the admin neither adds, changes nor deletes one (an edit there was unaudited, and
metadata holding "\\u0000" was a 500: PostgreSQL's jsonb refuses it)."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/admin/customers/customer/"


def test_a_superuser_sees_a_customer(admin_client):
    customer = CustomerFactory(email="ada@example.com")

    listing = admin_client.get(CUSTOMERS)
    page = admin_client.get(f"{CUSTOMERS}{customer.pk}/change/")

    assert (listing.status_code, page.status_code) == (200, 200)
    assert b"ada@example.com" in page.content
    assert b'name="email"' not in page.content  # shown, not an input


@pytest.mark.parametrize("metadata", ['{"note": "vip"}', '{"note": "\\u0000"}'])
def test_a_superuser_cannot_change_a_customer(admin_client, metadata):
    customer = CustomerFactory(email="ada@example.com", name="Ada", metadata={})

    page = admin_client.post(
        f"{CUSTOMERS}{customer.pk}/change/",
        {"email": "eve@example.com", "name": "Eve", "phone": "", "metadata": metadata},
    )

    assert page.status_code == 403
    customer.refresh_from_db()
    assert (customer.email, customer.name, customer.metadata) == ("ada@example.com", "Ada", {})


def test_a_superuser_can_neither_add_nor_delete_a_customer(admin_client):
    customer = CustomerFactory()
    audited = AuditEvent.objects.count()

    added = admin_client.post(f"{CUSTOMERS}add/", {"merchant": customer.merchant_id, "email": "new@example.com"})
    deleted = admin_client.post(f"{CUSTOMERS}{customer.pk}/delete/", {"post": "yes"})

    assert (added.status_code, deleted.status_code) == (403, 403)
    assert list(Customer.objects.values_list("pk", flat=True)) == [customer.pk]
    assert AuditEvent.objects.count() == audited
