"""The link a customer pays an open invoice at (signed: it names the invoice and nothing else)."""

from __future__ import annotations

from urllib.parse import urljoin

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Invoice

_SALT = "clearhouse.invoice-payment"
LINK_MAX_AGE_SECONDS = 60 * 60 * 24 * 30


def invoice_payment_url(invoice: Invoice) -> str:
    """The invoice's payment page, good for 30 days (absolute with PUBLIC_BASE_URL set)."""
    token = signing.TimestampSigner(salt=_SALT).sign(invoice.public_id)
    return urljoin(settings.PUBLIC_BASE_URL, reverse("invoice-pay", args=[token]))


def invoice_id_from_token(token: str) -> str | None:
    """The invoice a link names; None when it is forged, mangled or expired."""
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(token, max_age=LINK_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
