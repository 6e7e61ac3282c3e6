"""Customers and their saved cards. Payments, subscriptions and checkouts point at a customer;
this app owns the customers API and the cards a customer saved at a gateway's vault.

A saved card is a pair of gateway tokens (Authorize.Net CIM customer profile + payment
profile) with what a person needs to recognise it: brand, last four digits, expiry. Never the
card number or code."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.ids import public_id


def new_customer_id() -> str:
    return public_id("cus")


def new_payment_method_id() -> str:
    return public_id("pm")


class Customer(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_customer_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="customers")
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_customer"  # the table kept its name when the model left the payments app
        indexes = [
            models.Index(fields=["merchant", "email"], name="customer_email_idx"),
            models.Index(fields=["email"], name="customer_email_only_idx"),
        ]

    def __str__(self) -> str:
        return self.email or self.name or self.public_id


class VaultProfile(models.Model):
    """A customer's profile in one gateway account's vault (an Authorize.Net customer profile)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="vault_profiles")
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    customer_token = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "gateway_account"], name="vault_profile_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway_account_id}:{self.customer_token}"


class PaymentMethod(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REMOVED = "removed", "Removed"
        # Saved only once the customer authenticates (3-D Secure when the card is set up).
        REQUIRES_ACTION = "requires_action", "Requires action (customer authenticating)"
        FAILED = "failed", "Setup failed"

    public_id = models.CharField(max_length=40, unique=True, default=new_payment_method_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="payment_methods")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="payment_methods")
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    profile = models.ForeignKey(VaultProfile, on_delete=models.PROTECT, related_name="payment_methods")
    payment_token = models.CharField(max_length=64)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # A setup waiting for the customer to authenticate: the gateway's id for it, the page where the
    # customer authenticates, and the merchant's page the customer comes back to.
    setup_id = models.CharField(max_length=64, blank=True)
    action_url = models.URLField(max_length=2000, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)
    # Removed here first (authoritative), then deleted at the gateway by a retried task.
    gateway_deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True, status="active"),
                name="payment_method_one_default",
            ),
            models.UniqueConstraint(
                fields=["profile", "payment_token"],
                condition=Q(status="active"),
                name="payment_method_token_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="payment_method_customer_idx"),
            models.Index(
                fields=["gateway_account", "setup_id"], name="payment_method_setup_idx", condition=~Q(setup_id="")
            ),
        ]

    def __str__(self) -> str:
        expiry = f" {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""
        return f"{self.card_brand or 'card'} •••• {self.card_last4}{expiry}"
