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


class ApiKeyKind(models.TextChoices):
    SECRET = "secret", "Secret (sk_): the whole API, server-side only"
    PUBLISHABLE = "publishable", "Publishable (pk_): checkout and catalogue only, safe in a browser"


class ApiKey(models.Model):
    """An API key. Only its SHA-256 is stored; a secret key is shown once, at creation.

    Publishable keys can do nothing but start and verify checkouts and read the catalogue, so
    they may live in a web page; they are kept in the clear (`publishable_key`) to be shown again.
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_api_key_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    mode = models.CharField(max_length=4, choices=ApiMode.choices, default=ApiMode.TEST)
    kind = models.CharField(max_length=12, choices=ApiKeyKind.choices, default=ApiKeyKind.SECRET)
    publishable_key = models.CharField(max_length=64, blank=True)
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
