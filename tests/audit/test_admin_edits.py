"""Edits made in the admin go through services: each writes an audit row, in the same
transaction, with the staff member as the actor and the fields before and after."""

from __future__ import annotations

import pytest

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.catalog.models import Price, Product
from apps.catalog.services import price_create, product_create
from apps.gateways.models import GatewayAccount
from apps.gateways.services import gateway_account_create

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def last_audit(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


def test_a_merchant_renamed_or_deactivated_in_the_admin_is_audited(admin_client, merchant):
    response = admin_client.post(
        f"/admin/merchants/merchant/{merchant.pk}/change/", {"name": "Renamed Ltd", "is_active": ""}
    )

    assert response.status_code == 302, response.content[:500]
    event = last_audit("merchant.updated")
    assert (event.actor_type, event.before, event.after) == (
        "staff", {"name": merchant.name, "is_active": True}, {"name": "Renamed Ltd", "is_active": False},
    )  # fmt: skip


def test_a_gateway_account_changed_in_the_admin_is_audited(admin_client, merchant):
    account = gateway_account_create(
        merchant=merchant, gateway="razorpay", mode="test", currency="INR",
        credentials={"key_id": "rzp_test_1", "key_secret": "s"}, actor=SYSTEM,
    )  # fmt: skip

    response = admin_client.post(
        f"/admin/gateways/gatewayaccount/{account.pk}/change/",
        {"name": "India", "currency": "INR", "is_active": ""},
    )

    assert response.status_code == 302, response.content[:500]
    assert GatewayAccount.objects.get(pk=account.pk).is_active is False
    event = last_audit("gateway_account.updated")
    assert (event.actor_type, event.after) == ("staff", {"name": "India", "is_active": False})


def test_products_and_prices_changed_in_the_admin_are_audited(admin_client, merchant):
    product = product_create(merchant=merchant, name="Pass", actor=SYSTEM)
    price = price_create(product=product, amount=1000, currency="USD", nickname="monthly", actor=SYSTEM)
    form = {
        "merchant": merchant.pk, "name": "Annual pass", "description": "", "active": "on",
        "prices-TOTAL_FORMS": "1", "prices-INITIAL_FORMS": "1", "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000", "prices-0-id": price.pk, "prices-0-product": product.pk,
        "prices-0-nickname": "yearly", "prices-0-active": "on",
    }  # fmt: skip

    response = admin_client.post(f"/admin/catalog/product/{product.pk}/change/", form)

    assert response.status_code == 302, response.content[:2000]
    assert (Product.objects.get().name, Price.objects.get().nickname) == ("Annual pass", "yearly")
    assert last_audit("product.updated").after == {"name": "Annual pass"}
    assert last_audit("price.updated").after == {"nickname": "yearly"}
