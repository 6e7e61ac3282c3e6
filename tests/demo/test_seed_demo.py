from __future__ import annotations

import base64
import re
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.oath import totp

from apps.merchants.models import ApiKey
from apps.merchants.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def password_works(password: str) -> bool:
    return get_user_model().objects.get(username="admin").check_password(password)


def run_seed() -> tuple[str, str]:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    password = re.search(r"password (\S+)", text).group(1)
    secret = re.search(r"API key:\s+(sk_test_\S+)", text).group(1)
    return password, secret


def test_seed_prints_working_credentials_and_rotates_them_on_rerun():
    password, secret = run_seed()
    assert password_works(password)
    assert api_key_authenticate(secret=secret).merchant.slug == "demo"

    new_password, new_secret = run_seed()

    assert password_works(new_password)
    assert not password_works(password)
    assert ApiKey.objects.filter(merchant__slug="demo", name="demo", revoked_at__isnull=True).count() == 1
    assert api_key_authenticate(secret=new_secret)


def test_seed_gives_the_demo_merchant_a_working_gateway_account_once():
    from apps.gateways.models import GatewayAccount
    from apps.sandbox.models import AnetAccount

    run_seed()
    run_seed()

    account = GatewayAccount.objects.get(merchant__slug="demo", gateway="authorizenet")
    sandbox = AnetAccount.objects.get(api_login_id="demo-anet")
    assert account.credentials()["transaction_key"] == sandbox.transaction_key
    assert [hook.url for hook in sandbox.webhooks.all()] == [
        f"http://127.0.0.1:8000/webhooks/authorizenet/{account.public_id}"
    ]


def test_seed_sets_up_the_storefront_with_razorpay_once():
    from apps.catalog.models import Price
    from apps.gateways.models import GatewayAccount
    from apps.sandbox.models import RzpAccount

    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    account = GatewayAccount.objects.get(merchant__slug="demo", gateway="razorpay")
    sandbox = RzpAccount.objects.get(key_id=account.credentials()["key_id"])
    assert re.fullmatch(r"rzp_test_[A-Za-z0-9]{14}", sandbox.key_id)  # Razorpay's length
    assert [hook.url for hook in sandbox.webhooks.all()] == [
        f"http://127.0.0.1:8000/webhooks/razorpay/{account.public_id}"
    ]
    assert Price.objects.filter(merchant__slug="demo", currency="INR").count() == 3
    publishable = re.search(r"Publishable:\s+(pk_test_\S+)", out.getvalue()).group(1)
    assert api_key_authenticate(secret=publishable).kind == "publishable"
    assert ApiKey.objects.filter(kind="publishable", revoked_at__isnull=True).count() == 1


def test_seed_sets_up_a_stripe_account_with_its_webhook_and_a_usd_price_once():
    from apps.catalog.models import Price
    from apps.gateways.models import GatewayAccount
    from apps.sandbox.models import StripeAccount, StripeWebhookEndpoint

    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    account = GatewayAccount.objects.get(merchant__slug="demo", gateway="stripe", mode="test")
    credentials = account.credentials()
    sandbox = StripeAccount.objects.get(secret_key=credentials["secret_key"])
    assert credentials["publishable_key"] == sandbox.publishable_key
    endpoints = StripeWebhookEndpoint.objects.filter(account=sandbox)
    assert [endpoint.url for endpoint in endpoints] == [f"http://127.0.0.1:8000/webhooks/stripe/{account.public_id}"]
    assert credentials["webhook_secret"] == endpoints.get().secret
    assert Price.objects.filter(merchant__slug="demo", currency="USD").count() == 1
    assert Price.objects.filter(merchant__slug="demo", currency="INR").count() == 3
    assert "4000 0000 0000 3220" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_seed_subscriptions_are_billed_by_the_first_run_through_the_sandbox(anet_sandbox, settings):
    """The demo's due subscriptions renew (or go past due) at the sandbox's saved cards."""
    from apps.gateways.models import GatewayAccount
    from apps.subscriptions.billing import billing_run
    from apps.subscriptions.models import Subscription

    run_seed()
    run_seed()
    account = GatewayAccount.objects.get(merchant__slug="demo", gateway="authorizenet")
    assert account.credentials()["api_login_id"] == "demo-anet"  # served by the fixture's live sandbox

    billing_run()

    statuses = dict(Subscription.objects.values_list("customer__email", "status"))
    assert statuses == {"ada@example.com": "trialing", "grace@example.com": "active", "alan@example.com": "past_due"}


def test_with_2fa_required_the_seeded_admin_logs_in_with_the_printed_password_and_device(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    password = re.search(r"password (\S+)", text).group(1)
    uri = re.search(r"2FA:\s+add to an authenticator app: (otpauth://\S+)", text).group(1)
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": password, "otp_token": f"{totp(key):06d}"},
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("base_url", "prefix"),
    [
        ("http://127.0.0.1:8000", ""),
        ("http://127.0.0.1:8123", "PORT=8123 "),
        ("http://0.0.0.0:9000/", "HOST=0.0.0.0 PORT=9000 "),
    ],
)
def test_the_printed_commands_run_in_the_virtualenv_against_the_server_make_run_started(base_url, prefix):
    out = StringIO()
    call_command("seed_demo", "--base-url", base_url, stdout=out)
    text = out.getvalue()

    assert "python manage.py" not in text
    assert f'{prefix}make manage ARGS="sandbox_settle"' in [line.strip() for line in text.splitlines()]
    assert re.search(
        rf'(^|\s){re.escape(prefix)}make manage ARGS="reconcile --account gwa_\w+ --date \$\(date -u \+%F\)"', text
    )
