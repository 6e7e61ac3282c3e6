"""A gateway-run (ARB) subscription paused before pauses learned the schedule's id first (8c5aa9a),
whose create's answer was lost: ours shows paused with no gateway id while the gateway charges on
under our reference. A resume cancels that schedule before it makes the new one, and
`manage.py arb_lost_schedules` finds (and with --cancel cancels) every such schedule. Found by
ARBGetSubscriptionList through the SDK against the sandbox."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.customers.services import customer_create, payment_method_add
from apps.gateways.authorizenet import vault
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring_lost import LOST_SCHEDULE_CANCELLED
from tests.faultlab import wait_until
from tests.helpers import in_a_thread
from tests.subscriptions.conftest import ACTOR, MASTERCARD

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVE, CANCELED = AnetSubscription.Status.ACTIVE, AnetSubscription.Status.CANCELED


def paused_as_before_8c5aa9a(api: Any, customer: Any, plan: Any, sandbox_fault: Any) -> Subscription:
    """Subscribed while the create's answer is lost, then paused as pauses were before 8c5aa9a:
    ours paused without the gateway's id, nothing cancelled at the gateway."""
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    body = {"customer": customer.public_id, "plan": plan.public_id}
    assert api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="lost").status_code == 503
    unconfirmed = Subscription.objects.filter(customer=customer, gateway_subscription_id="")
    unconfirmed.update(status="paused", paused_at=timezone.now(), next_billing_at=None)
    ours = unconfirmed.get()
    assert ours.gateway_subscription_id == ""
    return ours


def lost_cancels(subscription: Subscription) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(target_id=subscription.public_id, action=LOST_SCHEDULE_CANCELLED)
    return [event.after for event in events.order_by("id")]


def test_resuming_cancels_the_schedule_a_lost_create_left_running_and_runs_only_the_new_one(
    api, customer, card, make_plan, sandbox_fault
):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()
    assert lost.status == ACTIVE

    resumed = api.post(f"/api/v1/subscriptions/{ours.public_id}/resume")

    assert resumed.status_code == 200, resumed.json()
    lost.refresh_from_db()
    assert lost.status == CANCELED
    ours.refresh_from_db()
    running = AnetSubscription.objects.get(status=ACTIVE)
    assert (ours.status, ours.gateway_subscription_id) == ("active", running.subscription_id)
    assert running.pk != lost.pk
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]


def test_the_command_lists_lost_schedules_and_cancels_them_only_when_asked(
    api, customer, card, make_plan, sandbox_fault
):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()

    listed = StringIO()
    call_command("arb_lost_schedules", stdout=listed)
    assert f"{ours.public_id}  ARB subscription {lost.subscription_id}  running" in listed.getvalue()
    lost.refresh_from_db()
    assert (lost.status, lost_cancels(ours)) == (ACTIVE, [])

    cancelled = StringIO()
    call_command("arb_lost_schedules", "--cancel", stdout=cancelled)
    assert "1 lost schedule(s) cancelled." in cancelled.getvalue()
    lost.refresh_from_db()
    assert lost.status == CANCELED
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]

    again = StringIO()
    call_command("arb_lost_schedules", "--cancel", stdout=again)
    assert "0 lost schedule(s) cancelled." in again.getvalue()
    assert len(lost_cancels(ours)) == 1


def test_the_search_reads_every_page_and_matches_only_this_subscription_s_schedule(
    api, customer, card, make_plan, sandbox_fault, monkeypatch
):
    plan = make_plan(billing_mode="gateway", amount=2000)
    for n in range(3):  # confirmed schedules listed before the lost one
        body = {"customer": customer.public_id, "plan": plan.public_id}
        assert api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=f"ok{n}").status_code == 201
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    body = {"customer": customer.public_id, "plan": plan.public_id}
    assert api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="lost").status_code == 503
    ours = Subscription.objects.get(gateway_subscription_id="")
    Subscription.objects.filter(pk=ours.pk).update(status="paused", paused_at=timezone.now())
    lost = AnetSubscription.objects.order_by("pk").last()
    monkeypatch.setattr(vault, "LIST_PAGE_SIZE", 2)  # four active schedules: the lost one on page 2

    call_command("arb_lost_schedules", "--cancel", stdout=StringIO())

    assert list(AnetSubscription.objects.order_by("pk").values_list("status", flat=True)) == [
        ACTIVE, ACTIVE, ACTIVE, CANCELED,
    ]  # fmt: skip
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]


def test_the_gateway_away_changes_nothing_and_the_command_says_so(api, customer, card, make_plan, sandbox_fault):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    sandbox_fault("http_error", 503, match="ARBGetSubscriptionListRequest")

    errors = StringIO()
    with pytest.raises(CommandError, match="could not be checked"):
        call_command("arb_lost_schedules", "--cancel", stdout=StringIO(), stderr=errors)

    assert ours.public_id in errors.getvalue()
    assert AnetSubscription.objects.get().status == ACTIVE
    assert lost_cancels(ours) == []


def test_another_customer_s_schedule_under_the_same_invoice_number_is_left_alone(
    api, customer, card, make_plan, sandbox_fault
):
    plan = make_plan(billing_mode="gateway", amount=2000)
    other = customer_create(merchant=customer.merchant, email="grace@example.com", name="Grace Hopper", actor=ACTOR)
    payment_method_add(customer=other, livemode=False, payment=MASTERCARD, actor=ACTOR)
    body = {"customer": other.public_id, "plan": plan.public_id}
    assert api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="other").status_code == 201
    theirs = AnetSubscription.objects.get()
    ours = paused_as_before_8c5aa9a(api, customer, plan, sandbox_fault)
    AnetSubscription.objects.filter(pk=theirs.pk).update(invoice_number=f"sub{ours.pk}")  # same number, not ours
    lost = AnetSubscription.objects.exclude(pk=theirs.pk).get()

    call_command("arb_lost_schedules", "--cancel", stdout=StringIO())

    theirs.refresh_from_db()
    lost.refresh_from_db()
    assert (theirs.status, lost.status) == (ACTIVE, CANCELED)


def test_a_lost_schedule_the_gateway_suspended_is_found_and_cancelled(api, customer, card, make_plan, sandbox_fault):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    AnetSubscription.objects.update(status=AnetSubscription.Status.SUSPENDED)  # a decline: it may run again

    call_command("arb_lost_schedules", "--cancel", stdout=StringIO())

    assert AnetSubscription.objects.get().status == CANCELED
    assert len(lost_cancels(ours)) == 1


def test_a_resume_that_cannot_list_the_gateway_s_schedules_changes_nothing(
    api, customer, card, make_plan, sandbox_fault
):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    sandbox_fault("http_error", 503, match="ARBGetSubscriptionListRequest")

    away = api.post(f"/api/v1/subscriptions/{ours.public_id}/resume")

    assert (away.status_code, away.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id, ours.billing_claimed_until) == ("paused", "", None)
    assert AnetSubscription.objects.count() == 1  # no new schedule beside the lost one
    assert AnetSubscription.objects.get().status == ACTIVE


def test_a_resume_whose_answer_was_lost_is_reported_not_cancelled_and_its_retry_adopts_it(
    api, customer, card, make_plan, sandbox_fault
):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    url = f"/api/v1/subscriptions/{ours.public_id}/resume"
    assert api.post(url, HTTP_IDEMPOTENCY_KEY="resume").status_code == 503
    made = AnetSubscription.objects.get(status=ACTIVE)  # the resume's; the lost create's is cancelled

    reported = StringIO()
    call_command("arb_lost_schedules", "--cancel", stdout=reported)
    assert f"ARB subscription {made.subscription_id}  running: made by a resume" in reported.getvalue()
    made.refresh_from_db()
    assert made.status == ACTIVE

    retried = api.post(url, HTTP_IDEMPOTENCY_KEY="resume")
    assert retried.status_code == 200, retried.json()
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id) == ("active", made.subscription_id)
    assert AnetSubscription.objects.filter(status=ACTIVE).count() == 1


def test_a_connection_cut_while_the_lost_schedule_is_cancelled_still_resumes_once(
    api, customer, card, make_plan, sandbox_fault, settings
):
    # given a legacy paused subscription, and the gateway holding its answer to the lost schedule's cancel
    settings.DB_RECONNECT_BACKOFF_SECONDS = 0
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()
    sandbox_fault("hang_after", 1000, match="ARBCancelSubscriptionRequest")  # within the call's timeout
    ours_pid = connection.cursor().connection.info.backend_pid  # the resume runs on this thread's connection

    def cut_when_cancelled() -> None:
        cancelled = AnetSubscription.objects.filter(pk=lost.pk, status=CANCELED)  # before its answer, held
        wait_until(cancelled.exists, timeout=20, what="the lost schedule's cancel")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [ours_pid])

    # when the resume's connection is cut after the gateway cancelled the schedule
    cutter = in_a_thread(cut_when_cancelled)
    resumed = api.post(f"/api/v1/subscriptions/{ours.public_id}/resume")
    cutter.join(30)

    # then the cancel is recorded on a fresh connection and the resume goes on: one new schedule
    assert resumed.status_code == 200, resumed.json()
    lost.refresh_from_db()
    assert lost.status == CANCELED
    ours.refresh_from_db()
    running = AnetSubscription.objects.get(status=ACTIVE)
    assert (ours.status, ours.gateway_subscription_id, ours.billing_claimed_until) == (
        "active", running.subscription_id, None,
    )  # fmt: skip
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]
    assert AnetSubscription.objects.count() == 2  # the lost create's, and the resume's


def test_a_connection_cut_while_the_cancel_s_answer_is_lost_ends_the_hold_and_the_retry_resumes(
    api, customer, card, make_plan, sandbox_fault, settings
):
    # given a legacy paused subscription, the cancel's answer held past the call's timeout
    settings.DB_RECONNECT_BACKOFF_SECONDS = 0
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()
    sandbox_fault("hang_after", 3000, match="ARBCancelSubscriptionRequest")
    ours_pid = connection.cursor().connection.info.backend_pid

    def cut_when_cancelled() -> None:
        cancelled = AnetSubscription.objects.filter(pk=lost.pk, status=CANCELED)
        wait_until(cancelled.exists, timeout=20, what="the lost schedule's cancel")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [ours_pid])

    # when the resume's connection is cut while the cancel's answer never comes
    cutter = in_a_thread(cut_when_cancelled)
    url = f"/api/v1/subscriptions/{ours.public_id}/resume"
    away = api.post(url, HTTP_IDEMPOTENCY_KEY="resume")
    cutter.join(30)

    # then 503, the hold ended on a fresh connection, ours unchanged and no schedule made
    assert (away.status_code, away.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id, ours.billing_claimed_until) == ("paused", "", None)
    assert AnetSubscription.objects.count() == 1
    # and the retry resumes it on one new schedule (the cancelled one is no longer listed)
    retried = api.post(url, HTTP_IDEMPOTENCY_KEY="resume")
    assert retried.status_code == 200, retried.json()
    ours.refresh_from_db()
    running = AnetSubscription.objects.get(status=ACTIVE)
    assert (ours.status, ours.gateway_subscription_id) == ("active", running.subscription_id)
    assert AnetSubscription.objects.count() == 2


def test_the_command_does_not_cancel_beside_a_resume_in_flight_and_the_schedule_is_audited_once(
    api, customer, card, make_plan, sandbox_fault, settings
):
    # given a legacy paused subscription, and the command's list of schedules answered late
    from apps.sandbox.models import SandboxFault

    settings.AUTHORIZENET_TIMEOUT_SECONDS = 20  # seconds of margin each way on a loaded machine
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()
    listing = sandbox_fault("hang_after", 4000, match="ARBGetSubscriptionListRequest")
    command: dict[str, Any] = {"stderr": StringIO()}

    def run_the_command() -> None:
        try:
            call_command("arb_lost_schedules", "--cancel", stdout=StringIO(), stderr=command["stderr"])
        except CommandError as exc:
            command["error"] = str(exc)

    # when a resume starts once the command has its list (the lost schedule in it), its own
    # cancel's answer held until after the command has read that list
    runner = in_a_thread(run_the_command)
    wait_until(lambda: SandboxFault.objects.get(pk=listing.pk).remaining == 0, timeout=20, what="the command's list")
    sandbox_fault("hang_after", 8000, match="ARBCancelSubscriptionRequest")  # held past the list's answer
    resumed = api.post(f"/api/v1/subscriptions/{ours.public_id}/resume")
    runner.join(30)

    # then the command was refused while the resume held the subscription; the resume cancelled the
    # lost schedule, audited once, and made the one new schedule
    assert resumed.status_code == 200, resumed.json()
    assert "could not be checked" in command["error"]
    assert f"{ours.public_id}  not cancelled: Another change" in command["stderr"].getvalue()
    lost.refresh_from_db()
    assert lost.status == CANCELED
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]
    ours.refresh_from_db()
    assert ours.gateway_subscription_id == AnetSubscription.objects.get(status=ACTIVE).subscription_id
    # and run again, the command finds nothing
    again = StringIO()
    call_command("arb_lost_schedules", "--cancel", stdout=again)
    assert "0 lost schedule(s) cancelled." in again.getvalue()


def test_a_lost_schedule_cancelled_twice_is_audited_once(api, customer, card, make_plan, sandbox_fault):
    from apps.subscriptions.recurring_lost import recurring_lost_schedules_stop

    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()

    for _ in range(2):  # a repeat after a lost answer, or the command's beside a resume's
        recurring_lost_schedules_stop(ours, [lost.subscription_id], actor=ACTOR)

    lost.refresh_from_db()
    assert lost.status == CANCELED
    assert lost_cancels(ours) == [{"schedule": lost.subscription_id}]


def test_the_command_leaves_a_subscription_another_change_holds_and_says_so(
    api, customer, card, make_plan, sandbox_fault
):
    ours = paused_as_before_8c5aa9a(api, customer, make_plan(billing_mode="gateway", amount=2000), sandbox_fault)
    lost = AnetSubscription.objects.get()
    Subscription.objects.filter(pk=ours.pk).update(billing_claimed_until=timezone.now() + timezone.timedelta(minutes=5))

    errors = StringIO()
    with pytest.raises(CommandError, match="could not be checked"):
        call_command("arb_lost_schedules", "--cancel", stdout=StringIO(), stderr=errors)

    assert f"{ours.public_id}  not cancelled: Another change" in errors.getvalue()
    lost.refresh_from_db()
    assert (lost.status, lost_cancels(ours)) == (ACTIVE, [])
