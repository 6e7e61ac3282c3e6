"""A gateway-run subscription's change or pause whose hold runs out while its gateway call is out,
and another call holds the subscription by the time the first call's answer is lost.

Before: the first call ended the hold whatever it was by then (an unguarded release), so the
second call's hold was cleared and a third change could run beside it at the gateway. Now a call
ends only its own hold; one that ran out and was taken over is left to its new holder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.customers.services import payment_method_add
from apps.sandbox.models import SandboxFault
from apps.subscriptions.errors import SubscriptionStateError
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring import recurring_hold
from apps.subscriptions.services import subscription_change, subscription_pause
from tests.helpers import in_a_thread, wait_for

from .conftest import ACTOR, MASTERCARD

pytestmark = pytest.mark.django_db(transaction=True)


def _change(sub: Subscription, customer: Any) -> tuple[str, Callable[[], Any]]:
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    return "ARBUpdateSubscriptionRequest", lambda: subscription_change(
        subscription=sub, payment_method=second, actor=ACTOR
    )


def _pause(sub: Subscription, customer: Any) -> tuple[str, Callable[[], Any]]:
    return "ARBCancelSubscriptionRequest", lambda: subscription_pause(subscription=sub, actor=ACTOR)


@pytest.mark.parametrize("call", [_change, _pause], ids=["card change", "pause"])
def test_a_call_whose_hold_ran_out_leaves_the_next_holder_alone(
    call: Callable[..., Any], arb_sub, customer, sandbox_fault, settings
):
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 3.0
    # given a change (or a pause) whose gateway call is out, its answer held back past our timeout
    request, run = call(arb_sub, customer)
    asked = sandbox_fault("hang_after", 8000, match=request)
    failures: list[Exception] = []

    def first() -> None:
        try:
            run()
        except ApplicationError as exc:
            failures.append(exc)

    thread = in_a_thread(first)
    wait_for(lambda: SandboxFault.objects.get(pk=asked.pk).remaining == 0, timeout=10)

    # when its hold runs out meanwhile and another call holds the subscription
    Subscription.objects.filter(pk=arb_sub.pk).update(billing_claimed_until=timezone.now() - timedelta(seconds=1))
    other = recurring_hold(Subscription.objects.get(pk=arb_sub.pk), lambda locked: None)
    thread.join(timeout=30)

    # then the first call's lost answer fails it (503) without ending the other call's hold
    assert [getattr(exc, "status_code", None) for exc in failures] == [503]
    arb_sub.refresh_from_db()
    assert arb_sub.billing_claimed_until == other.billing_claimed_until
    # so a third change waits for the holder (409) instead of running beside it at the gateway
    with pytest.raises(SubscriptionStateError):
        subscription_pause(subscription=arb_sub, actor=ACTOR)
