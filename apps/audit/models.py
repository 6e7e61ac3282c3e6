from __future__ import annotations

from django.db import models


class ActorType(models.TextChoices):
    STAFF = "staff", "Staff user"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"
    GATEWAY = "gateway", "Gateway"
    ANONYMOUS = "anonymous", "Anonymous"
    CUSTOMER = "customer", "Customer (a customer session or the customer portal)"


class AuditEvent(models.Model):
    """One append-only, hash-chained record of a state change or security event.

    `hash` is SHA-256 over the canonical serialisation of the row's content and `prev_hash`
    (see apps.audit.chain), so editing, deleting or reordering rows breaks the chain, and
    `verify_audit_chain` finds the first broken link. There are several chains (`chain`), each
    with its own append lock, so appends for different merchants do not wait for each other.
    On PostgreSQL a trigger also rejects UPDATE and DELETE outright.
    """

    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=255, blank=True)
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True, db_index=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # Which of the hash chains the row belongs to (apps.audit.services picks it). The database
    # default keeps an older process, during a rolling deploy, appending to chain 0.
    chain = models.SmallIntegerField(default=0, db_default=0)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        # view_auditevent shows the whole trail (auditors); this one only the events of finance
        # objects (apps.audit.selectors.FINANCE_TARGET_TYPES), for finance approvers.
        permissions = [("view_finance_auditevent", "Can view the audit events of finance objects")]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["chain", "id"], name="audit_chain_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or self.actor_type} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class AuditCheckpoint(models.Model):
    """A signed record of every chain's head at one moment (apps.audit.checkpoints).

    The signature is an HMAC with a key kept outside the database, and each checkpoint signs
    the previous one's signature, so rewriting a whole chain (recomputing every hash) or
    dropping its tail is detected at the head the last checkpoint recorded.
    """

    created_at = models.DateTimeField()
    # [[chain, event id, event hash], ...], one entry per chain, by chain.
    heads = models.JSONField()
    prev_signature = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Audit checkpoint {self.pk} at {self.created_at:%Y-%m-%d %H:%M:%S}"
