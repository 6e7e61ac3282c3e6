"""The hosted customer portal: the one-time links a merchant's backend mints to open it, and the
merchant's branding on its pages. A link, once opened, becomes a customer session
(apps.sessions_api) held in the browser's portal cookie."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from apps.core.ids import public_id

DEFAULT_PRIMARY_COLOR = "#1f4b99"


def new_link_id() -> str:
    return public_id("pl")


class PortalLink(models.Model):
    """A one-time link to the portal for one customer. Only the SHA-256 of its code is kept: the
    code is in the URL handed to the merchant once. Opened once (`used_at`), before `expires_at`."""

    public_id = models.CharField(max_length=40, unique=True, default=new_link_id, editable=False)
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="portal_links")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="portal_links")
    return_url = models.URLField(max_length=2000, blank=True)
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    session = models.ForeignKey(
        "sessions_api.CustomerSession", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="portal_link_expires"),
        ]

    def __str__(self) -> str:
        return self.public_id


class PortalBranding(models.Model):
    """How the portal looks for a merchant's customers: the name shown and one primary colour."""

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="portal_branding")
    display_name = models.CharField(max_length=100, blank=True, help_text="Blank: the merchant's name")
    primary_color = models.CharField(
        max_length=7,
        default=DEFAULT_PRIMARY_COLOR,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #RRGGBB.")],
    )

    class Meta:
        verbose_name_plural = "portal branding"
        constraints = [
            models.CheckConstraint(condition=Q(primary_color__regex=r"^#[0-9a-fA-F]{6}$"), name="portal_color_hex"),
        ]

    def __str__(self) -> str:
        return f"Portal branding of {self.merchant_id}"
