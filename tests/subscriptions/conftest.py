from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.customers.services import customer_create, payment_method_add
from apps.gateways.base import Card
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import plan_create, subscription_create

ACTOR = Actor.system("tests")
VISA = Card("4111111111111111", 12, 2030, "123")
MASTERCARD = Card("5424000000000015", 11, 2031, "456")
T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.fixture
def customer(merchant: Any, anet_account: Any) -> Any:
    return customer_create(merchant=merchant, email="ada@example.com", name="Ada Lovelace", actor=ACTOR)


@pytest.fixture
def card(customer: Any) -> Any:
    return payment_method_add(customer=customer, livemode=False, payment=VISA, actor=ACTOR)


@pytest.fixture
def make_plan(merchant: Any) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {"name": "Pro", "amount": 1500, "currency": "USD", "interval": "month"}
        values.update(overrides)
        return plan_create(merchant=merchant, **values, actor=ACTOR)

    return make


@pytest.fixture
def decline_card() -> Callable[[Any, bool], None]:
    """Make a saved card decline (or approve again) on its next charges at the sandbox."""
    from apps.sandbox.services import anet_payment_profile_set_decline

    def set_declining(method: Any, declining: bool = True) -> None:
        anet_payment_profile_set_decline(payment_profile_id=method.payment_token, declining=declining)

    return set_declining


@pytest.fixture
def arb_sub(merchant: Any, customer: Any, card: Any, make_plan: Callable[..., Any]) -> Subscription:
    """A subscription billed by an Authorize.Net ARB schedule (made through the service)."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    sub = subscription_create(merchant=merchant, customer=customer, plan=plan, livemode=False, now=T0, actor=ACTOR)
    assert sub.gateway_subscription_id
    return sub


@pytest.fixture
def arb_sub_over_api(api: Any, customer: Any, card: Any, make_plan: Callable[..., Any]) -> Subscription:
    """A subscription billed by an Authorize.Net ARB schedule, made through the API."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    response = api.post(
        "/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, format="json"
    )
    assert response.status_code == 201, response.json()
    return Subscription.objects.get(public_id=response.json()["id"])


def schedule_of(sub: Subscription) -> AnetSubscription:
    """The sandbox's ARB schedule of `sub`."""
    return AnetSubscription.objects.get(pk=AnetSubscription.pk_from_id(sub.gateway_subscription_id) or 0)


def audit_actions(subscription: Subscription) -> list[str]:
    """The audit actions recorded on `subscription`, oldest first."""
    return list(
        AuditEvent.objects.filter(target_id=subscription.public_id).order_by("id").values_list("action", flat=True)
    )
