from __future__ import annotations

from django.db import models

from apps.core.ids import public_id


def new_merchant_id() -> str:
    return public_id("mch")


def new_api_key_id() -> str:
    return public_id("key")


class Merchant(models.Model):
    """A tenant. Every API object belongs to exactly one merchant."""

    public_id = models.CharField(max_length=40, unique=True, default=new_merchant_id, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class ApiMode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


class ApiKey(models.Model):
    """A secret API key. Only its SHA-256 is stored; the secret is shown once, at creation."""

    public_id = models.CharField(max_length=40, unique=True, default=new_api_key_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    mode = models.CharField(max_length=4, choices=ApiMode.choices, default=ApiMode.TEST)
    prefix = models.CharField(max_length=16, help_text="The visible start of the key, e.g. sk_test_Ab12")
    last4 = models.CharField(max_length=4)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=255, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "API key"
        permissions = [("revoke_apikey", "Can revoke API keys")]

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last4}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
