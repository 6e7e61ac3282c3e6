"""Factories for what a customer session reads (subscriptions, invoices, refunds, saved cards), and
for customer session signing keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory
from factory.django import DjangoModelFactory

from apps.customers.models import PaymentMethod, VaultProfile
from apps.gateways.models import GatewayAccount
from apps.merchants.models import Merchant
from apps.payments.models import Refund, RefundStatus
from apps.sessions_api.keys import new_key_material
from apps.sessions_api.models import SigningAlgorithm, SigningKey
from apps.subscriptions.models import Invoice, Subscription, SubscriptionStatus
from tests.factories import CustomerFactory, GatewayAccountFactory, PaymentFactory, PlanFactory
from tests.merchants.factories import MerchantFactory

PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)


def _test_account(merchant: Merchant) -> GatewayAccount:
    """The merchant's active test account at Authorize.Net (one per merchant and mode), made if none."""
    return GatewayAccount.objects.filter(
        merchant=merchant, gateway="authorizenet", mode="test", is_active=True
    ).first() or GatewayAccountFactory(merchant=merchant)


class SigningKeyFactory(DjangoModelFactory[SigningKey]):
    """A merchant's active customer session key (HS256 unless `algorithm` says otherwise)."""

    class Meta:
        model = SigningKey
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    algorithm = SigningAlgorithm.HS256

    @factory.post_generation
    def material(self, create: bool, extracted: object, **kwargs: object) -> None:
        secret, self.public_key = new_key_material(self.algorithm)
        self.set_secret(secret)
        if create:
            self.save(update_fields=["secret_ciphertext", "public_key"])


class SubscriptionFactory(DjangoModelFactory[Subscription]):
    class Meta:
        model = Subscription

    merchant = factory.SubFactory(MerchantFactory)
    customer = factory.SubFactory(CustomerFactory, merchant=factory.SelfAttribute("..merchant"))
    plan = factory.SubFactory(PlanFactory, merchant=factory.SelfAttribute("..merchant"))
    gateway_account = factory.LazyAttribute(lambda subscription: _test_account(subscription.merchant))
    payment_method = factory.LazyAttribute(
        lambda subscription: PaymentMethodFactory(profile__customer=subscription.customer)
    )
    status = SubscriptionStatus.ACTIVE
    billing_anchor = PERIOD_START
    current_period_start = PERIOD_START
    current_period_end = PERIOD_START + timedelta(days=30)


class InvoiceFactory(DjangoModelFactory[Invoice]):
    class Meta:
        model = Invoice

    subscription = factory.SubFactory(SubscriptionFactory)
    merchant = factory.SelfAttribute("subscription.merchant")
    plan = factory.SelfAttribute("subscription.plan")
    period_start = factory.SelfAttribute("subscription.current_period_start")
    period_end = factory.SelfAttribute("subscription.current_period_end")
    amount = 1500
    currency = "USD"


class RefundFactory(DjangoModelFactory[Refund]):
    """A refund the gateway refused: no money moved, so the ledger has nothing to say about it."""

    class Meta:
        model = Refund

    payment = factory.SubFactory(PaymentFactory)
    merchant = factory.SelfAttribute("payment.merchant")
    status = RefundStatus.FAILED
    amount = 500
    currency = "USD"


class VaultProfileFactory(DjangoModelFactory[VaultProfile]):
    class Meta:
        model = VaultProfile

    customer = factory.SubFactory(CustomerFactory)
    gateway_account = factory.LazyAttribute(lambda profile: _test_account(profile.customer.merchant))
    customer_token = factory.Sequence(lambda n: f"{900000 + n}")


class PaymentMethodFactory(DjangoModelFactory[PaymentMethod]):
    class Meta:
        model = PaymentMethod

    profile = factory.SubFactory(VaultProfileFactory)
    customer = factory.SelfAttribute("profile.customer")
    merchant = factory.SelfAttribute("profile.customer.merchant")
    gateway_account = factory.SelfAttribute("profile.gateway_account")
    payment_token = factory.Sequence(lambda n: f"{800000 + n}")
    card_brand = "visa"
    card_last4 = "4242"
    exp_month = 12
    exp_year = 2030
