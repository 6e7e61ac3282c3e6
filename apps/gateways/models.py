from __future__ import annotations

import json
from typing import Any

from django.db import models

from apps.core import crypto
from apps.core.ids import public_id


def new_gateway_account_id() -> str:
    return public_id("gwa")


class GatewayName(models.TextChoices):
    AUTHORIZENET = "authorizenet", "Authorize.Net"
    RAZORPAY = "razorpay", "Razorpay"
    STRIPE = "stripe", "Stripe"


class GatewayAccount(models.Model):
    """A merchant's account at a gateway: which gateway, test or live, and its credentials.

    Credentials are stored only encrypted (FIELD_ENCRYPTION_KEYS) and never shown again.
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_gateway_account_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="gateway_accounts")
    gateway = models.CharField(max_length=20, choices=GatewayName.choices)
    mode = models.CharField(max_length=4, choices=[("test", "Test"), ("live", "Live")], default="test")
    name = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3, default="USD", help_text="The currency this account settles in")
    is_active = models.BooleanField(default=True)
    credentials_ciphertext = models.TextField(editable=False)
    credentials_hint = models.CharField(max_length=40, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "gateway", "mode"],
                condition=models.Q(is_active=True),
                name="gateway_account_one_active_per_mode",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_gateway_display()} {self.mode} ({self.merchant.slug})"

    def set_credentials(self, credentials: dict[str, str], *, login: str = "") -> None:
        """`login`: the credential that names the account (not a secret), for the hint."""
        self.credentials_ciphertext = crypto.encrypt(json.dumps(credentials, sort_keys=True))
        self.credentials_hint = f"{login[:4]}…" if login else "set"

    def credentials(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(crypto.decrypt(self.credentials_ciphertext))
        return value
