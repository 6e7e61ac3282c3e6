from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core import crypto
from apps.events.endpoints import webhook_endpoint_create, webhook_endpoint_rotate_secret
from apps.events.models import WebhookEndpoint
from apps.gateways.errors import GatewayMisconfigured
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import checkout_gateway_for, gateway_for
from apps.gateways.services import GatewayAccountConflict, gateway_account_create, gateway_account_set_credentials
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

CREDENTIALS = {"api_login_id": "login123", "transaction_key": "key-secret-1", "signature_key": "SIG"}


def create(merchant, **overrides):
    values = {
        "merchant": merchant,
        "gateway": "authorizenet",
        "mode": "test",
        "credentials": CREDENTIALS,
        "actor": Actor.system(),
    }
    return gateway_account_create(**{**values, **overrides})


def test_credentials_are_encrypted_at_rest_and_audited_without_them(merchant):
    account = create(merchant)

    stored = GatewayAccount.objects.get(pk=account.pk)
    assert "key-secret-1" not in stored.credentials_ciphertext
    assert stored.credentials()["transaction_key"] == "key-secret-1"
    assert stored.credentials_hint == "logi…"
    assert "key-secret-1" not in str(AuditEvent.objects.get(action="gateway_account.created").after)


def test_one_active_account_per_gateway_and_mode(merchant):
    create(merchant)

    with pytest.raises(GatewayAccountConflict):
        create(merchant)
    assert create(merchant, mode="live").mode == "live"


def test_missing_credentials_are_refused(merchant):
    with pytest.raises(ValueError, match="transaction_key"):
        create(merchant, credentials={"api_login_id": "x"})


def test_changing_credentials_keeps_the_ones_left_blank(merchant):
    account = create(merchant)

    gateway_account_set_credentials(
        account=account, credentials={"transaction_key": "new-key", "api_login_id": ""}, actor=Actor.system()
    )

    stored = GatewayAccount.objects.get(pk=account.pk).credentials()
    assert (stored["api_login_id"], stored["transaction_key"]) == ("login123", "new-key")
    assert AuditEvent.objects.get(action="gateway_account.credentials_changed").after == {
        "changed": ["transaction_key"]
    }


def test_key_rotation_reencrypts_with_the_new_key(merchant, settings):
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], crypto.generate_key()
    account = create(merchant)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()

    call_command("rotate_field_encryption", stdout=out)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert GatewayAccount.objects.get(pk=account.pk).credentials()["api_login_id"] == "login123"
    assert "Re-encrypted 1" in out.getvalue()


def test_key_rotation_also_reencrypts_webhook_endpoint_secrets_and_keeps_them(merchant, settings):
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], crypto.generate_key()
    create(merchant)
    first = webhook_endpoint_create(
        merchant=merchant, url="https://example.com/hooks", event_types=["*"], actor=Actor.system("tests")
    )
    rotated = webhook_endpoint_rotate_secret(endpoint=first.endpoint, actor=Actor.system("tests"))
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()

    call_command("rotate_field_encryption", stdout=out)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    endpoint = WebhookEndpoint.objects.get(pk=first.endpoint.pk)
    assert (endpoint.secret(), endpoint.previous_secret()) == (rotated.secret, first.secret)
    assert out.getvalue() == (
        "Re-encrypted 1 gateway account(s), 1 webhook endpoint(s) and 0 session signing key(s).\n"
    )
    assert (
        AuditEvent.objects.filter(action="webhook_endpoint.secret_reencrypted", target_id=endpoint.public_id).count()
        == 1
    )


def test_key_rotation_with_a_needed_key_dropped_says_so_and_loses_nothing(merchant, settings):
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], crypto.generate_key()
    account = create(merchant)
    stored = GatewayAccount.objects.get(pk=account.pk).credentials_ciphertext
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    with pytest.raises(CommandError, match=r"Encrypted value cannot be read with FIELD_ENCRYPTION_KEYS\. Every key"):
        call_command("rotate_field_encryption", stdout=StringIO())

    assert GatewayAccount.objects.get(pk=account.pk).credentials_ciphertext == stored
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    assert GatewayAccount.objects.get(pk=account.pk).credentials()["api_login_id"] == "login123"


def test_live_accounts_use_the_live_endpoint_and_card_gateways_have_no_checkout(merchant, settings):
    live = create(merchant, mode="live")
    razorpay = create(
        merchant, gateway="razorpay", mode="live", credentials={"key_id": "rzp_live_x", "key_secret": "s"}
    )
    stripe = create(merchant, gateway="stripe", mode="live", credentials={"secret_key": "sk_live_x"})

    assert gateway_for(live).config.endpoint == settings.AUTHORIZENET_LIVE_ENDPOINT  # type: ignore[attr-defined]
    assert gateway_for(razorpay).config.base_url == settings.RAZORPAY_LIVE_API_BASE  # type: ignore[attr-defined]
    assert gateway_for(stripe).config.api_base == settings.STRIPE_LIVE_API_BASE  # type: ignore[attr-defined]
    with pytest.raises(GatewayMisconfigured):
        checkout_gateway_for(live)


def test_ops_add_an_account_in_the_admin_and_never_see_the_secret_again(client, merchant):
    client.force_login(StaffUserFactory(roles=[roles.OPS]))

    response = client.post(
        "/admin/gateways/gatewayaccount/add/",
        {"merchant": merchant.pk, "gateway": "authorizenet", "mode": "test", "name": "main", "currency": "USD",
         "is_active": "on", "api_login_id": "adminlogin", "transaction_key": "admin-secret-key"},
    )  # fmt: skip
    account = GatewayAccount.objects.get(merchant=merchant)
    page = client.get(f"/admin/gateways/gatewayaccount/{account.pk}/change/")
    client.post(
        f"/admin/gateways/gatewayaccount/{account.pk}/change/",
        {"name": "renamed", "currency": "USD", "is_active": "on", "transaction_key": "rotated-key"},
    )

    assert response.status_code == 302
    assert account.credentials()["transaction_key"] == "admin-secret-key"
    assert b"admin-secret-key" not in page.content
    updated = GatewayAccount.objects.get(pk=account.pk)
    assert (updated.name, updated.credentials()["transaction_key"]) == ("renamed", "rotated-key")
