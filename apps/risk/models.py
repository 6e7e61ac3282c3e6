"""Fraud/risk rules and the allow/block lists they sit behind.

A rule is a condition in a small, safe expression language (apps/risk/expressions.py) over the
attributes of a payment attempt, and the outcome it asks for. A list entry names one email,
email domain, IP address or range, card fingerprint or customer that is always allowed or always
blocked: for every merchant of the deployment (no merchant: our staff's, in the admin) or for one
merchant's payments only (the merchant's own, through its API). Nothing here calls the payment
path yet: `risk_assess` (assessment.py) answers for a set of attributes. Writes go through
services.py, which audits each one. A change that touches a live rule waits, as a RuleChange,
for a second risk analyst's approval (rule_changes.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ids import public_id


def new_rule_id() -> str:
    return public_id("rul")


def new_list_entry_id() -> str:
    return public_id("rle")


def new_rule_change_id() -> str:
    return public_id("rcg")


class Outcome(models.TextChoices):
    """What an assessment asks the payment path to do, strongest first."""

    BLOCK = "block", "Block"
    REVIEW = "review", "Review"
    REQUEST_3DS = "request_3ds", "Request 3-D Secure"
    ALLOW = "allow", "Allow"


# The strongest live outcome wins: block > review > request_3ds > allow.
OUTCOME_PRECEDENCE = {Outcome.BLOCK: 3, Outcome.REVIEW: 2, Outcome.REQUEST_3DS: 1, Outcome.ALLOW: 0}


class RuleMode(models.TextChoices):
    LIVE = "live", "Live"
    # Evaluated and recorded, never acted on: how a new rule is tried on real traffic first.
    LOG_ONLY = "log_only", "Log only"


class Rule(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_rule_id, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    expression = models.TextField(help_text="A condition over the attempt's attributes (apps/risk/expressions.py)")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    mode = models.CharField(max_length=16, choices=RuleMode.choices, default=RuleMode.LIVE)
    enabled = models.BooleanField(default=True)
    # Shipped by a migration; staff may disable or change it but it is ours, not theirs.
    built_in = models.BooleanField(default=False, editable=False)
    # +1 on every change: compiled expressions are cached per (rule, version).
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=Outcome.values), name="risk_rule_outcome_valid"),
            models.CheckConstraint(condition=Q(mode__in=RuleMode.values), name="risk_rule_mode_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="risk_rule_version_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleChangeKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"


class RuleChangeStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    # The rule changed (or went) after the proposal was made: it can no longer be approved.
    SUPERSEDED = "superseded", "Superseded"


class RuleChange(models.Model):
    """A proposed creation, change or deletion that touches a live rule (maker-checker): applied
    through the rule services when another risk analyst approves it, never before."""

    public_id = models.CharField(max_length=40, unique=True, default=new_rule_change_id, editable=False)
    # None for a creation until approved, and once the rule is deleted (`rule_name` stays).
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes")
    rule_name = models.CharField(max_length=100, help_text="The rule's name when the change was proposed")
    kind = models.CharField(max_length=10, choices=RuleChangeKind.choices)
    # The proposed values: every field of a creation, the changed ones of an update, none for a deletion.
    fields = models.JSONField(default=dict, blank=True)
    # The rule's version the change was proposed against (none for a creation): an approval of an
    # older version than the rule's current one is refused (superseded).
    rule_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=RuleChangeStatus.choices, default=RuleChangeStatus.PENDING)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The decider's note, or why the change was superseded.
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        permissions = [("approve_rulechange", "Can approve or reject changes to live risk rules proposed by others")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RuleChangeKind.values), name="risk_rule_change_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=RuleChangeStatus.values), name="risk_rule_change_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=RuleChangeKind.CREATE, rule_version__isnull=True)
                | (~Q(kind=RuleChangeKind.CREATE) & Q(rule_version__isnull=False)),
                name="risk_rule_change_version_unless_creation",
            ),
            models.CheckConstraint(
                condition=Q(status=RuleChangeStatus.PENDING, decided_at__isnull=True)
                | (~Q(status=RuleChangeStatus.PENDING) & Q(decided_at__isnull=False)),
                name="risk_rule_change_decided_unless_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="risk_rule_change_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.rule_name} ({self.public_id})"


class ListKind(models.TextChoices):
    EMAIL = "email", "Email address"
    EMAIL_DOMAIN = "email_domain", "Email domain"
    IP = "ip", "IP address or range (CIDR)"
    CARD_FINGERPRINT = "card_fingerprint", "Card fingerprint"
    CUSTOMER = "customer", "Customer (public id)"


class ListAction(models.TextChoices):
    BLOCK = "block", "Block"
    ALLOW = "allow", "Allow"


class ListEntry(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_list_entry_id, editable=False)
    # None: deployment-wide, kept by our staff in the admin. A merchant's own entries (its API)
    # apply to that merchant's payments only.
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=ListKind.choices)
    action = models.CharField(max_length=10, choices=ListAction.choices)
    # Normalised by apps/risk/lists.py: emails and domains in lower case, IPs as a canonical
    # network ("203.0.113.7/32", "2001:db8::/32").
    value = models.CharField(max_length=255)
    reason = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "list entries"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kind", "action", "value"],
                name="risk_list_entry_unique_per_merchant",
            ),
            # PostgreSQL treats NULLs as distinct: the deployment-wide entries need their own.
            models.UniqueConstraint(
                fields=["kind", "action", "value"],
                condition=Q(merchant__isnull=True),
                name="risk_list_entry_unique_deployment_wide",
                violation_error_message="A deployment-wide entry with this kind, action and value already exists.",
            ),
            models.CheckConstraint(condition=Q(kind__in=ListKind.values), name="risk_list_entry_kind_valid"),
            models.CheckConstraint(condition=Q(action__in=ListAction.values), name="risk_list_entry_action_valid"),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="risk_list_entry_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.value}"
