from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.accounts.services import staff_password_reset, staff_totp_enrol
from apps.audit.actors import Actor
from apps.catalog.models import Price, Product
from apps.catalog.services import price_create, product_create
from apps.customers.services import customer_create, payment_method_import
from apps.gateways.models import GatewayAccount
from apps.gateways.services import gateway_account_create, gateway_account_set_credentials
from apps.merchants.models import ApiKey, Merchant
from apps.merchants.services import api_key_create, api_key_revoke, merchant_create
from apps.reconciliation.models import CsvMapping
from apps.sandbox.models import AnetAccount, RzpAccount, StripeAccount, StripeWebhookEndpoint
from apps.sandbox.notifications import anet_webhook_register
from apps.sandbox.razorpay.services import rzp_webhook_register
from apps.sandbox.services import anet_account_create, anet_vault_seed, rzp_account_create
from apps.sandbox.stripe.services import stripe_account_create, stripe_webhook_endpoint_create
from apps.subscriptions.models import Plan
from apps.subscriptions.services import plan_create, subscription_create

DEMO_KEY_NAME = "demo"
# The Makefile's defaults for the server's address.
MAKE_HOST, MAKE_PORT = "127.0.0.1", 8000


def manage_command(base_url: str, args: str) -> str:
    """A manage.py command as typed in the checkout: `make manage` runs it in the virtualenv with
    the gateway sandboxes at the server `make run` started (given HOST and PORT when not the defaults)."""
    address = urlsplit(base_url)
    host, port = address.hostname or MAKE_HOST, address.port or (443 if address.scheme == "https" else 80)
    prefix = "".join([f"HOST={host} " if host != MAKE_HOST else "", f"PORT={port} " if port != MAKE_PORT else ""])
    return f'{prefix}make manage ARGS="{args}"'


class Command(BaseCommand):
    help = (
        "Load demo data for the quickstart: a merchant, an admin login and a test API key. "
        "Safe to run again: it rotates the admin password and the demo key and prints both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", default="demo")
        parser.add_argument("--admin", default="admin")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("seed_demo")
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            merchant = merchant_create(slug=options["merchant"], name="Demo Store", actor=actor)

        user_model = get_user_model()
        admin = user_model.objects.filter(username=options["admin"]).first()
        if admin is None:
            with transaction.atomic():
                admin = user_model.objects.create_superuser(
                    username=options["admin"], email="admin@example.com", password=secrets.token_urlsafe(12)
                )
        password = staff_password_reset(user=admin, actor=actor)
        # With 2FA required (ADMIN_REQUIRE_OTP), the admin needs a device: a new one on every start,
        # like the password.
        totp_uri = staff_totp_enrol(user=admin, actor=actor).uri if settings.ADMIN_REQUIRE_OTP else ""

        for old in ApiKey.objects.filter(merchant=merchant, name=DEMO_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(api_key=old, actor=actor)
        issued = api_key_create(merchant=merchant, mode="test", name=DEMO_KEY_NAME, actor=actor)
        base = options["base_url"].rstrip("/")
        account = self._gateway_account(merchant, actor)
        self._sandbox_webhook(account, base)
        razorpay = self._razorpay_account(merchant, actor)
        self._razorpay_webhook(razorpay, base)
        self._stripe_account(merchant, base, actor)
        self._catalogue(merchant, actor)
        publishable = self._publishable_key(merchant, actor)
        self._subscriptions(merchant, account, actor)
        self._csv_mapping()

        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 72,
                    " Clearhouse demo data",
                    f"   Merchant:    {merchant.name} ({merchant.slug})",
                    f"   Admin:       {base}/admin/   user {admin.get_username()}   password {password}",
                    *([f"   2FA:         add to an authenticator app: {totp_uri}"] if totp_uri else []),
                    f"   API key:     {issued.secret}",
                    f"   API docs:    {base}/api/docs/",
                    f"   Storefront:  {base}/store/{merchant.slug}/  (Razorpay sandbox, INR: card 4100 2800 0000 1007;",
                    "               Stripe sandbox, USD: 4242 4242 4242 4242, or 4000 0000 0000 3220 for 3-D Secure)",
                    f"   Publishable: {publishable}",
                    "   Gateway:     Authorize.Net test mode, served by the built-in sandbox at /sandbox/",
                    f"   Charge:      curl -X POST {base}/api/v1/payments -H 'Authorization: Bearer {issued.secret}' "
                    "-H 'Content-Type: application/json' -H \"Idempotency-Key: demo-$(date +%s%N)\" "
                    '-d \'{"amount": 1050, '
                    '"currency": "USD", "payment_method": {"type": "card", "number": '
                    '"4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}\'',
                    f"   Try:         curl -H 'Authorization: Bearer {issued.secret}' {base}/api/v1/merchant",
                    "   Billing:     3 demo subscriptions; beat bills the due ones within a minute (one card declines:",
                    f"                see {base}/admin/subscriptions/pastduesubscription/)",
                    "   Reconcile:   "
                    + manage_command(base, f"sandbox_discrepancy amount --account {merchant.slug}-anet --amount 900"),
                    "                " + manage_command(base, "sandbox_settle"),
                    "                "
                    + manage_command(base, f"reconcile --account {account.public_id} --date $(date -u +%F)"),
                    f"                then {base}/admin/reconciliation/discrepancy/ and {base}/admin/dashboard/",
                    "   (the password and key are new on every start)",
                    "=" * 72,
                    "",
                ]
            )
        )

    def _csv_mapping(self) -> None:
        """A saved mapping for Authorize.Net's downloadable transaction report (for CSV uploads)."""
        CsvMapping.objects.get_or_create(
            name="Authorize.Net transaction detail report",
            defaults={
                "gateway": "authorizenet",
                "transaction_id_column": "Transaction ID",
                "amount_column": "Settlement Amount",
                "batch_id_column": "Batch ID",
                "kind_column": "Transaction Status",
                "charge_values": "Settled Successfully",
                "refund_values": "Credited",
                "reference_column": "Invoice Number",
                "settled_at_column": "Settlement Date",
                "date_format": "%d-%b-%Y %I:%M:%S %p",
            },
        )

    def _razorpay_account(self, merchant: Merchant, actor: Actor) -> GatewayAccount:
        """A test-mode Razorpay account (INR) at the built-in sandbox, for the storefront."""
        existing = GatewayAccount.objects.filter(
            merchant=merchant, gateway="razorpay", mode="test", is_active=True
        ).first()
        if existing is not None:
            return existing
        # Razorpay's key ids are `rzp_test_` and 14 letters or digits.
        key_id = "rzp_test_" + ("".join(ch for ch in merchant.slug if ch.isalnum())[:6] + "demo" + "0" * 14)[:14]
        sandbox = RzpAccount.objects.filter(key_id=key_id).first() or rzp_account_create(key_id=key_id)
        return gateway_account_create(
            merchant=merchant,
            gateway="razorpay",
            mode="test",
            currency="INR",
            name="Razorpay sandbox",
            credentials={
                "key_id": sandbox.key_id,
                "key_secret": sandbox.key_secret,
                "webhook_secret": secrets.token_urlsafe(24),
            },
            actor=actor,
        )

    def _razorpay_webhook(self, account: GatewayAccount, base: str) -> None:
        credentials = account.credentials()
        sandbox = RzpAccount.objects.get(key_id=credentials["key_id"])
        url = f"{base}/webhooks/razorpay/{account.public_id}"
        if not sandbox.webhooks.filter(url=url).exists():
            rzp_webhook_register(account=sandbox, url=url, secret=credentials["webhook_secret"])

    def _stripe_account(self, merchant: Merchant, base: str, actor: Actor) -> GatewayAccount:
        """A test-mode Stripe account (USD) at the built-in sandbox, its webhooks sent to us."""
        existing = GatewayAccount.objects.filter(merchant=merchant, gateway="stripe", mode="test", is_active=True)
        account = existing.first()
        if account is None:
            sandbox = stripe_account_create()
            account = gateway_account_create(
                merchant=merchant,
                gateway="stripe",
                mode="test",
                currency="USD",
                name="Stripe sandbox",
                credentials={
                    "secret_key": sandbox.secret_key,
                    "publishable_key": sandbox.publishable_key,
                    "webhook_secret": "",
                },
                actor=actor,
            )
        credentials = account.credentials()
        sandbox = StripeAccount.objects.get(secret_key=credentials["secret_key"])
        url = f"{base}/webhooks/stripe/{account.public_id}"
        endpoint = StripeWebhookEndpoint.objects.filter(account=sandbox, url=url).first()
        if endpoint is None:
            endpoint, _secret = stripe_webhook_endpoint_create(account=sandbox, url=url)
        if credentials.get("webhook_secret") != endpoint.secret:
            gateway_account_set_credentials(
                account=account, credentials={"webhook_secret": endpoint.secret}, actor=actor
            )
        if not Price.objects.filter(product__merchant=merchant, currency="USD").exists():
            product = product_create(
                merchant=merchant, name="Workshop seat", description="One live workshop", actor=actor
            )
            price_create(product=product, amount=4_500, currency="USD", actor=actor)
        return account

    def _catalogue(self, merchant: Merchant, actor: Actor) -> None:
        if Product.objects.filter(merchant=merchant).exclude(prices__currency="USD").exists():
            return
        for name, description, amount in (
            ("Starter plan", "One month of the starter plan", 49_900),
            ("Pro plan", "One month of everything", 1_49_900),
            ("Sticker pack", "Ten stickers, shipped", 19_900),
        ):
            product = product_create(merchant=merchant, name=name, description=description, actor=actor)
            price_create(product=product, amount=amount, currency="INR", actor=actor)

    def _subscriptions(self, merchant: Merchant, account: GatewayAccount, actor: Actor) -> None:
        """Plans, customers with saved cards in the sandbox's vault, and three subscriptions: one in
        its trial, one due now (beat renews it), one due now whose card declines (dunning)."""
        if Plan.objects.filter(merchant=merchant).exists():
            return
        pro = plan_create(merchant=merchant, name="Pro monthly", amount=1500, currency="USD", interval="month",
                          trial_days=14, actor=actor)  # fmt: skip
        plan_create(merchant=merchant, name="Team yearly", amount=9900, currency="USD", interval="year", actor=actor)
        sandbox = AnetAccount.objects.get(api_login_id=account.credentials()["api_login_id"])
        now = timezone.now()
        for email, name, card, declining, started in (
            ("ada@example.com", "Ada Lovelace", "4111111111111111", False, now),
            ("grace@example.com", "Grace Hopper", "5424000000000015", False, now - timedelta(days=14)),
            ("alan@example.com", "Alan Turing", "4007000000027", True, now - timedelta(days=14)),
        ):
            customer = customer_create(merchant=merchant, email=email, name=name, actor=actor)
            tokens = anet_vault_seed(account=sandbox, reference=f"cus{customer.pk}", email=email, card_number=card,
                                     expiration="2030-12", zip_code="10001", declining=declining)  # fmt: skip
            payment_method_import(customer=customer, account=account, customer_token=tokens[0],
                                  payment_token=tokens[1], card_brand="mastercard" if card[0] == "5" else "visa",
                                  card_last4=card[-4:], exp_month=12, exp_year=2030, actor=actor)  # fmt: skip
            # Started `started` ago with the plan's 14-day trial: the last two are due now.
            subscription_create(merchant=merchant, customer=customer, plan=pro, livemode=False, now=started,
                                actor=actor)  # fmt: skip

    def _publishable_key(self, merchant: Merchant, actor: Actor) -> str:
        key = ApiKey.objects.filter(merchant=merchant, kind="publishable", mode="test", revoked_at__isnull=True).first()
        if key is None:
            return api_key_create(
                merchant=merchant, mode="test", kind="publishable", name="storefront", actor=actor
            ).secret
        return key.publishable_key

    def _sandbox_webhook(self, account: GatewayAccount, base: str) -> None:
        """The sandbox notifies our webhook endpoint for the account, as the merchant interface's
        Webhooks page would be set up for the real service."""
        sandbox = AnetAccount.objects.get(api_login_id=account.credentials()["api_login_id"])
        url = f"{base}/webhooks/authorizenet/{account.public_id}"
        if not sandbox.webhooks.filter(url=url).exists():
            anet_webhook_register(account=sandbox, url=url)

    def _gateway_account(self, merchant: Merchant, actor: Actor) -> GatewayAccount:
        """A test-mode Authorize.Net account for the merchant, opened at the built-in sandbox."""
        existing = GatewayAccount.objects.filter(
            merchant=merchant, gateway="authorizenet", mode="test", is_active=True
        ).first()
        if existing is not None:
            return existing
        sandbox = AnetAccount.objects.filter(api_login_id=f"{merchant.slug}-anet").first() or anet_account_create(
            api_login_id=f"{merchant.slug}-anet"
        )
        return gateway_account_create(
            merchant=merchant,
            gateway="authorizenet",
            mode="test",
            name="Authorize.Net sandbox",
            credentials={
                "api_login_id": sandbox.api_login_id,
                "transaction_key": sandbox.transaction_key,
                "signature_key": sandbox.signature_key,
            },
            actor=actor,
        )
