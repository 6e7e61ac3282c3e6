"""What a merchant sells (products and their prices), what a customer is buying in a hosted
checkout (CheckoutOrder), and what they got for it (Entitlement)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.ids import public_id
from apps.core.money import format_amount


def new_product_id() -> str:
    return public_id("prod")


def new_price_id() -> str:
    return public_id("price")


def new_checkout_id() -> str:
    return public_id("co")


def new_entitlement_id() -> str:
    return public_id("ent")


class Product(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_product_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Price(models.Model):
    """An amount (minor units) in a currency for one unit of a product. The server charges this,
    never an amount sent by a browser."""

    public_id = models.CharField(max_length=40, unique=True, default=new_price_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="prices")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    nickname = models.CharField(max_length=100, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product__name", "amount"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="price_amount_positive")]

    def __str__(self) -> str:
        return f"{self.product.name} {format_amount(self.amount, self.currency)}"


class CheckoutOrder(models.Model):
    """A purchase paid in the gateway's hosted checkout: which price, how many, for whom, and the
    payment that pays for it (whose gateway_order_id is the gateway's order).

    Open while the payment is pending; completed (entitlement granted) once it is captured.
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_checkout_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="checkout_orders")
    payment = models.OneToOneField("payments.Payment", on_delete=models.PROTECT, related_name="checkout_order")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="checkout_orders")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="checkout_orders")
    quantity = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The reconciler walks the open ones.
            models.Index(fields=["created_at"], condition=Q(completed_at__isnull=True), name="checkout_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.quantity} x {self.price}"


class Entitlement(models.Model):
    """What a customer got for a completed checkout. One per checkout order: granting twice is
    impossible, whichever of verify, webhook or reconciler gets there first."""

    public_id = models.CharField(max_length=40, unique=True, default=new_entitlement_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="entitlements")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="entitlements")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="entitlements")
    checkout_order = models.OneToOneField(CheckoutOrder, on_delete=models.PROTECT, related_name="entitlement")
    quantity = models.PositiveIntegerField()
    granted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.customer} x{self.quantity} {self.product}"
