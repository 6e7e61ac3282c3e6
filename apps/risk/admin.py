"""The risk rules and the allow/block lists in the admin. Forms validate (an expression is
compiled, a list value normalised) and every save or delete goes through the services, which
audit it. A save or delete that touches a live rule becomes a proposal for another risk
analyst's approval (rule_changes.py; its pages are in admin_rule_changes)."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from apps.audit.actors import Actor
from apps.core.admin_sections import register_change_section
from apps.core.cards import contains_card_number
from apps.core.errors import ApplicationError

from .admin_rule_changes import proposed_message, staff_user
from .admin_sections import payment_risk_section
from .expressions import ATTRIBUTE_TYPES, validate_expression
from .lists import CARD_NUMBER_REFUSED, normalise_list_value
from .models import ListEntry, Rule, RuleChange, RuleChangeKind, RuleChangeStatus
from .rule_changes import RuleSubmitted, rule_change_submit, rule_current_fields, rule_is_live
from .services import (
    LIST_ENTRY_CHANGEABLE,
    RULE_CHANGEABLE,
    check_allowed_range,
    list_entry_add,
    list_entry_remove,
    list_entry_update,
)

register_change_section("payments.payment", payment_risk_section)

# The proposal a save or delete made instead of changing the rule, for the response that follows.
_proposed: WeakKeyDictionary[HttpRequest, RuleChange] = WeakKeyDictionary()
register_change_section("payments.paymentunderreview", payment_risk_section)


class RuleForm(forms.ModelForm[Rule]):
    expression = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100}),
        validators=[validate_expression],
        help_text=(
            "A condition, e.g. <code>(amount_usd ?? 0) &gt; 100000 and card_country != 'US'</code>. "
            "Amounts are integers in minor units (amount_usd in US cents). Attributes that may be unknown "
            "need <code>?? default</code> before a comparison. Attributes: " + ", ".join(sorted(ATTRIBUTE_TYPES))
        ),
    )

    class Meta:
        model = Rule
        fields = ["name", "description", "expression", "outcome", "mode", "enabled"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin[Rule]):
    form = RuleForm
    list_display = ("name", "outcome", "mode", "enabled", "version", "built_in", "updated_at")
    list_filter = ("outcome", "mode", "enabled", "built_in")
    search_fields = ("name", "=public_id")
    readonly_fields = ("public_id", "built_in", "version", "created_at", "updated_at", "pending_changes")

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None) -> Any:
        # A built-in rule is found by its name after every migrate: renamed, it would come back.
        return (*self.readonly_fields, "name") if obj is not None and obj.built_in else self.readonly_fields

    ordering = ("name",)
    actions = ["delete_selected"]

    @admin.display(description="Changes waiting for approval")
    def pending_changes(self, obj: Rule) -> str:
        pending = obj.changes.filter(status=RuleChangeStatus.PENDING).select_related("proposed_by") if obj.pk else []
        rows = [
            (reverse("admin:risk_rulechange_change", args=[change.pk]), change.public_id, change.proposed_by)
            for change in pending
        ]
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> by {}', rows) or "—"

    def _submitted(self, request: HttpRequest, obj: Rule, submitted: RuleSubmitted) -> None:
        if submitted.change is not None:
            _proposed[request] = submitted.change
        elif submitted.rule is not None:
            saved = submitted.rule
            obj.pk, obj.public_id, obj.version = saved.pk, saved.public_id, saved.version

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        user = staff_user(request)
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in RULE_CHANGEABLE}
            submitted = rule_change_submit(kind=RuleChangeKind.UPDATE, rule=obj, fields=fields, user=user)
        else:
            fields = {name: form.cleaned_data[name] for name in RULE_CHANGEABLE}
            submitted = rule_change_submit(kind=RuleChangeKind.CREATE, fields=fields, user=user)
        self._submitted(request, obj, submitted)

    def _proposal_response(self, request: HttpRequest) -> HttpResponse | None:
        change = _proposed.pop(request, None)
        if change is None:
            return None
        self.message_user(request, proposed_message(change), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:risk_rulechange_change", args=[change.pk]))

    def response_add(self, request: HttpRequest, obj: Rule, post_url_continue: str | None = None) -> HttpResponse:
        return self._proposal_response(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Rule) -> HttpResponse:
        return self._proposal_response(request) or super().response_change(request, obj)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: int) -> HttpResponse:
        return self._proposal_response(request) or super().response_delete(request, obj_display, obj_id)

    # Django's history (LogEntry) records what was done; a proposal changed nothing yet.
    def log_addition(self, request: HttpRequest, obj: Rule, message: Any) -> Any:
        return None if request in _proposed else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Rule, message: Any) -> Any:
        return None if request in _proposed else super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # Called before the deletion: a live rule's becomes a proposal.
        done = [rule.pk for rule in queryset if not rule_is_live(rule_current_fields(rule))]
        return super().log_deletions(request, Rule.objects.filter(pk__in=done)) if done else None

    def has_delete_permission(self, request: HttpRequest, obj: Rule | None = None) -> bool:
        if obj is not None and obj.built_in:
            return False  # ours: disable it instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        submitted = rule_change_submit(kind=RuleChangeKind.DELETE, rule=obj, user=staff_user(request))
        self._submitted(request, obj, submitted)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        deleted = 0
        for rule in queryset:
            try:
                submitted = rule_change_submit(kind=RuleChangeKind.DELETE, rule=rule, user=staff_user(request))
            except ApplicationError as exc:
                self.message_user(request, f"{rule.name}: {exc.message}", messages.WARNING)
                continue
            if submitted.change is not None:
                self.message_user(request, proposed_message(submitted.change), messages.SUCCESS)
            else:
                deleted += 1
        if deleted:
            self.message_user(request, f"Deleted {deleted} rule(s) that were not live.", messages.SUCCESS)

    @admin.action(description="Delete selected rules (live ones wait for approval)", permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Rule]) -> HttpResponse | None:
        """Django's confirmation page; once confirmed, each rule through the services, without
        Django's "Successfully deleted" (a live rule's deletion is only proposed)."""
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        _, _, perms_needed, protected = self.get_deleted_objects(queryset, request)
        if perms_needed or protected:
            raise PermissionDenied
        self.log_deletions(request, queryset)
        self.delete_queryset(request, queryset)
        return None


class ListEntryForm(forms.ModelForm[ListEntry]):
    class Meta:
        model = ListEntry
        fields = ["merchant", "kind", "action", "value", "reason", "expires_at"]
        help_texts = {"merchant": "Empty: the entry applies to every merchant's payments."}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Normalised here so that the form's own uniqueness check sees the stored form.
        if self.instance.pk is None and cleaned.get("kind") and cleaned.get("value"):
            try:
                cleaned["value"] = normalise_list_value(cleaned["kind"], cleaned["value"])
                check_allowed_range(cleaned["kind"], cleaned.get("action") or "", cleaned["value"])
            except ValidationError as exc:
                self.add_error("value", exc.messages)
        if contains_card_number(cleaned.get("reason") or ""):
            self.add_error("reason", CARD_NUMBER_REFUSED)
        expires_at = cleaned.get("expires_at")
        if self.instance.pk is None and expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "An entry must expire in the future.")
        return cleaned


class ListScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "All merchants (ours)"), ("merchant", "One merchant's (its API)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ListEntry]) -> QuerySet[ListEntry]:
        if self.value() == "all":
            return queryset.filter(merchant__isnull=True)
        if self.value() == "merchant":
            return queryset.filter(merchant__isnull=False)
        return queryset


@admin.register(ListEntry)
class ListEntryAdmin(admin.ModelAdmin[ListEntry]):
    form = ListEntryForm
    list_display = ("value", "kind", "action", "scope", "reason", "expires_at", "created_by", "created_at")
    list_filter = (
        "kind",
        "action",
        ListScopeFilter,
        ("merchant", admin.RelatedOnlyFieldListFilter),
        ("expires_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("value", "reason", "=public_id", "merchant__slug")
    list_select_related = ("created_by", "merchant")
    raw_id_fields = ("merchant",)
    ordering = ("-created_at",)

    @admin.display(description="Merchant", ordering="merchant__slug", empty_value="All merchants")
    def scope(self, obj: ListEntry) -> Any:
        return obj.merchant

    def get_readonly_fields(self, request: HttpRequest, obj: ListEntry | None = None) -> Any:
        # A value is removed and another added, never edited: each is its own audited fact.
        if obj is not None:
            return ("public_id", "merchant", "kind", "action", "value", "created_by", "created_at")
        return ("public_id", "created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: ListEntry, form: Any, change: bool) -> None:
        actor = Actor.staff(request.user)
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in LIST_ENTRY_CHANGEABLE}
            list_entry_update(entry=obj, changes=changes, actor=actor)
            return
        created = list_entry_add(
            merchant=obj.merchant,
            kind=obj.kind,
            action=obj.action,
            value=obj.value,
            reason=obj.reason,
            expires_at=obj.expires_at,
            created_by=request.user if request.user.is_authenticated else None,
            actor=actor,
        )
        obj.pk, obj.public_id, obj.value = created.pk, created.public_id, created.value

    def delete_model(self, request: HttpRequest, obj: ListEntry) -> None:
        list_entry_remove(entry=obj, actor=Actor.staff(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ListEntry]) -> None:
        for entry in queryset:
            list_entry_remove(entry=entry, actor=Actor.staff(request.user))
