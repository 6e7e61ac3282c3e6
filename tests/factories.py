"""factory-boy factories for the main models: tests whose subject is not the HTTP path set up state
directly with them. What they build keeps the suite's invariants (a captured payment posts its
ledger entries), so the ledger check after every test holds."""

from __future__ import annotations

from typing import Any

import factory
from django.db import transaction
from factory.django import DjangoModelFactory

from apps.catalog.models import Price, Product
from apps.customers.models import Customer
from apps.events.models import Event
from apps.gateways.models import GatewayAccount
from apps.payments.models import Payment, PaymentStatus
from apps.payments.services.postings import ledger_record_payment
from apps.subscriptions.models import Plan
from tests.merchants.factories import MerchantFactory


class CustomerFactory(DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    merchant = factory.SubFactory(MerchantFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")


class GatewayAccountFactory(DjangoModelFactory[GatewayAccount]):
    """A test-mode Authorize.Net account with made-up credentials (it reaches no gateway)."""

    class Meta:
        model = GatewayAccount
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    gateway = "authorizenet"
    mode = "test"
    currency = "USD"

    @factory.post_generation
    def credentials(self, create: bool, extracted: dict[str, str] | None, **kwargs: Any) -> None:
        self.set_credentials(extracted or {"api_login_id": "factory", "transaction_key": "k"}, login="factory")
        if create:
            self.save(update_fields=["credentials_ciphertext", "credentials_hint"])


class PaymentFactory(DjangoModelFactory[Payment]):
    """An authorised payment by default; `captured=True` captures it, with its ledger entries."""

    class Meta:
        model = Payment
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    # The merchant's active test account at Authorize.Net (one per merchant and mode), made if none.
    gateway_account = factory.LazyAttribute(
        lambda payment: (
            GatewayAccount.objects.filter(
                merchant=payment.merchant, gateway="authorizenet", mode="test", is_active=True
            ).first()
            or GatewayAccountFactory(merchant=payment.merchant)
        )
    )
    customer = factory.SubFactory(CustomerFactory, merchant=factory.SelfAttribute("..merchant"))
    amount = 1050
    currency = "USD"
    status = PaymentStatus.AUTHORIZED
    amount_authorized = factory.SelfAttribute("amount")
    capture = False
    gateway_transaction_id = factory.Sequence(lambda n: f"{60000000000 + n}")
    card_brand = "visa"
    card_last4 = "1111"

    @factory.post_generation
    def captured(self, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        if not (create and extracted):
            return
        with transaction.atomic():
            before = {"amount_captured": 0, "amount_refunded": 0}
            self.status, self.amount_captured = PaymentStatus.CAPTURED, self.amount
            self.save(update_fields=["status", "amount_captured"])
            ledger_record_payment(self, before)


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Product {n}")


class PriceFactory(DjangoModelFactory[Price]):
    class Meta:
        model = Price

    product = factory.SubFactory(ProductFactory)
    merchant = factory.SelfAttribute("product.merchant")
    amount = 49_900
    currency = "INR"


class PlanFactory(DjangoModelFactory[Plan]):
    class Meta:
        model = Plan

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    amount = 1500
    currency = "USD"
    interval = "month"


class EventFactory(DjangoModelFactory[Event]):
    class Meta:
        model = Event

    merchant = factory.SubFactory(MerchantFactory)
    type = "payment.captured"
    object_type = "payment"
    object_id = factory.Sequence(lambda n: f"pay_{n}")
    data = factory.LazyAttribute(lambda event: {"id": event.object_id})
