"""Customer sessions: short-lived JWTs a merchant's backend mints for one of its customers, and
the per-merchant keys that sign them.

The database is the record (which sessions exist, which were revoked, which keys signed them);
verifying a token asks it nothing (apps.sessions_api.verification): keys are kept per process
under a stamp, revocations are kept in Redis."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core import crypto
from apps.core.ids import public_id, random_token


def new_kid() -> str:
    # Public (in every token's header and in the JWKS), so it only needs to be unguessable enough
    # not to collide.
    return f"csk_{random_token(20)}"


def new_session_id() -> str:
    return public_id("cs")


def new_jti() -> str:
    return random_token(32)


class SigningAlgorithm(models.TextChoices):
    HS256 = "HS256", "HS256 (a shared secret, never published)"
    ES256 = "ES256", "ES256 (P-256 key pair; the public key is published in the JWKS)"


class SigningKey(models.Model):
    """A merchant's key for signing customer session tokens. New tokens are signed with the
    merchant's active key (one at most, `retired_at` empty); a retired key still verifies the
    tokens it signed until the longest of them has expired (`retired_at` + the longest lifetime).

    The secret (HS256) or private key (ES256, PEM) is stored only encrypted with
    FIELD_ENCRYPTION_KEYS, as gateway credentials are."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="session_signing_keys")
    kid = models.CharField(max_length=40, unique=True, default=new_kid, editable=False)
    algorithm = models.CharField(max_length=8, choices=SigningAlgorithm.choices, default=SigningAlgorithm.HS256)
    secret_ciphertext = models.TextField(editable=False)
    public_key = models.TextField(blank=True, editable=False, help_text="PEM (ES256 only)")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Retired because it leaked (`rotate_session_key --compromised`): verifies nothing from then on.
    compromised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], condition=Q(retired_at__isnull=True), name="session_signing_key_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm})"

    def set_secret(self, secret: str) -> None:
        self.secret_ciphertext = crypto.encrypt(secret)

    def secret(self) -> str:
        return crypto.decrypt(self.secret_ciphertext)


class CustomerSession(models.Model):
    """One minted token: who it is for, what it may do, until when; revoked_at once revoked."""

    public_id = models.CharField(max_length=40, unique=True, default=new_session_id, editable=False)
    jti = models.CharField(max_length=64, unique=True, default=new_jti, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="customer_sessions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="sessions")
    signing_key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="sessions")
    abilities = models.JSONField(default=list)
    # The mode of the key that minted it: its writes use the merchant's gateway account of that mode.
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer", "expires_at"], name="customer_session_customer_idx"),
            models.Index(
                fields=["expires_at"], name="customer_session_revoked_idx", condition=Q(revoked_at__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="customer_session_expires"),
        ]

    def __str__(self) -> str:
        return self.public_id
