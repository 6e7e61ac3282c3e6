"""A risk reviewer's decision reaches the gateway once under real faults on our side.

The decision runs in a process of its own (as an admin request would, on the app's database
connection name and Redis), holding the gateway's answer for 3 s after the gateway captured or
voided (sandbox fault `hang_after`); in that window the app's Redis stops, its database
connections are terminated, or the process is SIGKILLed. Then the review sweep runs (the beat
task that carries a decision the gateway did not take). Always: the decision's outcome, one
capture or void at the gateway, one decision in the audit trail.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.payments.models import GatewayTransaction, Payment
from apps.payments.services.review import payments_review_expire
from apps.risk.services import rule_create
from tests.exactly_once.helpers import FAULTS, gateway_calls
from tests.faultlab import ROOT, AppServer, RedisServer, wait_until
from tests.payments.helpers import purchase_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DECIDE = """
from django.contrib.auth import get_user_model
from apps.payments.models import Payment
from apps.payments.services.review import payment_review_approve, payment_review_reject
payment = Payment.objects.get(public_id={payment!r})
user = get_user_model().objects.get(pk={user})
decide = payment_review_approve if {approve!r} else payment_review_reject
decide(payment=payment, user=user, note="under a fault")
"""

OPERATIONS = {"approve": ("priorAuthCaptureTransaction", "capture"), "reject": ("voidTransaction", "void")}


def held_payment(api: Any) -> Payment:
    rule_create(name="Review everything", expression="amount > 0", outcome="review", actor=Actor.system("tests"))
    response = api.post("/api/v1/payments", purchase_body(4200), format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert (payment.status, payment.review, payment.capture_on_approval) == ("authorized", "pending", True)
    return payment


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_decision_under_a_fault_reaches_the_gateway_once(
    decision, fault, api, anet_account, sandbox_fault, app_server: AppServer, app_redis: RedisServer
):
    payment = held_payment(api)
    reviewer = get_user_model().objects.create_user(username=f"reviewer-{uuid.uuid4().hex[:8]}", is_staff=True)
    operation, kind = OPERATIONS[decision]
    sandbox_fault("hang_after", 3000, match=operation)
    script = DECIDE.format(payment=payment.public_id, user=reviewer.pk, approve=decision == "approve")

    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=app_server.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(lambda: gateway_calls(operation) == 1, timeout=30, what=f"the {operation} call")
    if fault == "kill":
        process.kill()
    elif fault == "database":
        assert app_server.terminate_db_connections() >= 1, "the decision held no database connection"
    else:
        app_redis.stop()
    process.wait(timeout=60)
    if fault == "broker":
        time.sleep(0.5)
        app_redis.start()

    payments_review_expire()  # the sweep carries what the decision's process did not finish
    payments_review_expire()  # and is safe to run twice

    payment.refresh_from_db()
    expected = ("captured", "approved") if decision == "approve" else ("voided", "rejected")
    assert (payment.status, payment.review) == expected
    assert gateway_calls(operation) == 1
    assert GatewayTransaction.objects.filter(payment=payment, kind=kind, status="succeeded").count() == 1
    action = f"payment.review_{decision}d" if decision == "approve" else "payment.review_rejected"
    assert AuditEvent.objects.filter(action=action, target_id=payment.public_id).count() == 1
