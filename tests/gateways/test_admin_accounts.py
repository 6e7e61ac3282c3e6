"""Gateway accounts in the admin: what the services would refuse (a required credential left
blank, a second active account of the merchant at the gateway in the mode) is a form error on the
page, never a 500, and nothing changes."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction
from django.test import Client

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.models import GatewayAccount
from apps.gateways.services import gateway_account_create, gateway_account_update
from tests.accounts.factories import StaffUserFactory
from tests.helpers import wait_for_a_lock_wait

ADD = "/admin/gateways/gatewayaccount/add/"
SYSTEM = Actor.system("tests")
ANET = {"api_login_id": "login123", "transaction_key": "key-secret-1"}


def account(merchant, *, active=True, gateway="authorizenet", name=""):
    created = gateway_account_create(
        merchant=merchant, gateway=gateway, mode="test", credentials=ANET, name=name, actor=SYSTEM
    )
    if not active:
        gateway_account_update(account=created, changes={"is_active": False}, actor=SYSTEM)
        created.refresh_from_db()
    return created


def change_form(account, **overrides):
    return {"name": account.name, "currency": account.currency, "is_active": "on", **overrides}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("gateway", "credentials", "blank"),
    [
        ("stripe", {"publishable_key": "pk_test_1"}, "secret_key"),
        ("authorizenet", {"api_login_id": "login"}, "transaction_key"),
        ("razorpay", {}, "key_id"),
    ],
)
def test_adding_an_account_without_a_required_credential_is_a_form_error(
    staff_client, merchant, gateway, credentials, blank
):
    staff = staff_client(roles.OPS)

    page = staff.post(
        ADD,
        {"merchant": merchant.pk, "gateway": gateway, "mode": "test", "currency": "USD", "is_active": "on"}
        | credentials,
    )

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert errors[blank] == [f"Required for {GatewayAccount(gateway=gateway).get_gateway_display()}."]
    assert not GatewayAccount.objects.exists()
    assert not AuditEvent.objects.filter(action="gateway_account.created").exists()


@pytest.mark.django_db
def test_a_stripe_account_with_its_secret_key_is_added(staff_client, merchant):
    staff = staff_client(roles.OPS)

    page = staff.post(
        ADD,
        {"merchant": merchant.pk, "gateway": "stripe", "mode": "test", "currency": "USD", "is_active": "on",
         "secret_key": "sk_test_1"},
    )  # fmt: skip

    assert page.status_code == 302
    assert GatewayAccount.objects.get(merchant=merchant).credentials() == {"secret_key": "sk_test_1"}


@pytest.mark.django_db
def test_adding_a_second_active_account_is_a_form_error(staff_client, merchant):
    account(merchant)
    staff = staff_client(roles.OPS)

    page = staff.post(
        ADD, {"merchant": merchant.pk, "gateway": "authorizenet", "mode": "test", "currency": "USD", "is_active": "on"}
        | ANET,
    )  # fmt: skip

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "already has an active account" in form.errors["is_active"][0]
    assert not form.non_field_errors()  # said once, in our words
    assert GatewayAccount.objects.count() == 1


@pytest.mark.django_db
def test_reactivating_an_account_while_another_is_active_is_a_form_error_and_changes_nothing(staff_client, merchant):
    old = account(merchant, active=False, name="old")
    account(merchant, name="current")
    staff = staff_client(roles.OPS)

    page = staff.post(f"/admin/gateways/gatewayaccount/{old.pk}/change/", change_form(old, name="renamed"))

    assert page.status_code == 200
    assert "already has an active account" in page.context["adminform"].form.errors["is_active"][0]
    old.refresh_from_db()
    assert (old.is_active, old.name) == (False, "old")
    assert AuditEvent.objects.filter(action="gateway_account.updated", target_id=old.public_id).count() == 1


@pytest.mark.django_db
def test_reactivating_an_account_alone_at_its_gateway_works(staff_client, merchant):
    old = account(merchant, active=False)
    staff = staff_client(roles.OPS)

    page = staff.post(f"/admin/gateways/gatewayaccount/{old.pk}/change/", change_form(old))

    assert page.status_code == 302
    old.refresh_from_db()
    assert old.is_active


@pytest.mark.django_db(transaction=True)
def test_an_account_activated_meanwhile_leaves_the_page_unsaved_not_a_500(merchant):
    """The form's check passes; another account's activation, not yet committed, then holds the
    unique index: when it commits, the database refuses ours, and the admin says so."""
    old, other = account(merchant, active=False, name="old"), account(merchant, active=False, name="other")
    user = StaffUserFactory(roles=[roles.OPS])
    answers = []

    def reactivate() -> None:
        try:
            client = Client()
            client.force_login(user)
            answers.append(
                client.post(f"/admin/gateways/gatewayaccount/{old.pk}/change/", change_form(old, name="renamed"))
            )
        finally:
            connections.close_all()

    with transaction.atomic():
        GatewayAccount.objects.filter(pk=other.pk).update(is_active=True)
        thread = threading.Thread(target=reactivate)
        thread.start()
        wait_for_a_lock_wait("the admin's reactivation", timeout=10)
    thread.join(timeout=20)

    assert answers and answers[0].status_code == 302
    assert answers[0].url == f"/admin/gateways/gatewayaccount/{old.pk}/change/"
    old.refresh_from_db()
    assert (old.is_active, old.name) == (False, "old")
