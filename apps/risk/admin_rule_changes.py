"""Proposed changes to live rules in the admin (Risk → Rule changes): pending ones first; a
change's page shows the proposed values next to the rule's current ones, and another risk
analyst approves or rejects it there (a note, two buttons). Proposals are made by saving or
deleting a live rule in the Rule admin, never here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin_lookup import PublicIdChangeMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.cards import reject_card_numbers
from apps.core.errors import ApplicationError

from .models import RuleChange, RuleChangeKind, RuleChangeStatus
from .rule_changes import APPROVE_PERMISSION, rule_change_approve, rule_change_reject, rule_current_fields
from .services import RULE_CHANGEABLE

_PROPOSED_WHAT = {
    RuleChangeKind.CREATE: "creating the rule",
    RuleChangeKind.UPDATE: "changing the rule",
    RuleChangeKind.DELETE: "deleting the rule",
}


def staff_user(request: HttpRequest) -> User:
    """The signed-in user behind an admin request (the admin lets no one else in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def proposed_message(change: RuleChange) -> str:
    what = _PROPOSED_WHAT[RuleChangeKind(change.kind)]
    return f"Proposed {what} “{change.rule_name}” ({change.public_id}), waiting for another risk analyst's approval."


class DecisionForm(forms.Form):
    note = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"size": 80}), validators=[reject_card_numbers]
    )


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@admin.register(RuleChange)
class RuleChangeAdmin(PublicIdChangeMixin, ReadOnlyAdmin):
    list_display = ("public_id", "kind", "rule_name", "status", "proposed_by", "created_at", "decided_by", "decided_at")
    list_filter = ("status", "kind")
    list_select_related = ("proposed_by", "decided_by")
    search_fields = ("=public_id", "rule_name", "rule__public_id")
    fields = (
        "public_id",
        "kind",
        "rule_link",
        "rule_version",
        "status",
        "proposed_by",
        "created_at",
        "decided_by",
        "decided_at",
        "note",
        "comparison",
    )
    readonly_fields = fields

    def get_ordering(self, request: HttpRequest) -> Any:
        pending_first = Case(When(status=RuleChangeStatus.PENDING, then=Value(0)), default=Value(1))
        return (pending_first.asc(), "-created_at", "-pk")

    @admin.display(description="Rule")
    def rule_link(self, obj: RuleChange) -> str:
        if obj.rule is None:
            gone = obj.kind != RuleChangeKind.CREATE or obj.status == RuleChangeStatus.APPROVED
            return f"{obj.rule_name} ({'deleted' if gone else 'not created yet'})"
        url = reverse("admin:risk_rule_change", args=[obj.rule.pk])
        return format_html(
            '<a href="{}">{}</a> ({}, version {} now)', url, obj.rule.name, obj.rule.public_id, obj.rule.version
        )

    @admin.display(description="Proposed, next to the rule now")
    def comparison(self, obj: RuleChange) -> str:
        current: dict[str, Any] = rule_current_fields(obj.rule) if obj.rule is not None else {}
        rows = []
        for name in RULE_CHANGEABLE:
            label = name.capitalize()
            now = _shown(current.get(name)) if current else "—"
            if obj.kind == RuleChangeKind.DELETE:
                proposed, changed = "(deleted)", True
            elif name in obj.fields:
                proposed, changed = _shown(obj.fields[name]), obj.fields[name] != current.get(name)
            else:
                proposed, changed = "(unchanged)", False
            rows.append(("bold" if changed else "normal", label, now, proposed))
        row = '<tr style="font-weight: {}"><th>{}</th><td><code>{}</code></td><td><code>{}</code></td></tr>'
        body = format_html_join("\n", row, rows)
        return format_html(
            "<table><thead><tr><th></th><th>Rule now</th><th>Proposed</th></tr></thead><tbody>{}</tbody></table>", body
        )

    def get_urls(self) -> list[Any]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            wrapped: Callable[..., HttpResponse] = self.admin_site.admin_view(view)
            return wrapped

        return [
            path("<int:object_id>/decide/", wrap(self.decide_view), name="risk_rulechange_decide"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        change = RuleChange.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        may_decide = bool(
            change and change.status == RuleChangeStatus.PENDING and request.user.has_perm(APPROVE_PERMISSION)
        )
        extra_context = {
            **(extra_context or {}),
            "can_reject": may_decide,
            # The proposer never approves their own change; the button is not offered (the
            # service refuses and audits the attempt all the same).
            "can_approve": may_decide and change is not None and change.proposed_by_id != request.user.pk,
            "decision_form": DecisionForm(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        change = get_object_or_404(RuleChange, pk=object_id)
        back = HttpResponseRedirect(reverse("admin:risk_rulechange_change", args=[change.pk]))
        form = DecisionForm(request.POST or None)
        if request.method != "POST":
            return back
        if not form.is_valid():
            self.message_user(
                request, " ".join(str(message) for message in form.errors.get("note", [])), messages.ERROR
            )
            return back
        approve = request.POST.get("decision") == "approve"
        decide = rule_change_approve if approve else rule_change_reject
        try:
            done = decide(change=change, approver=staff_user(request), note=form.cleaned_data["note"])
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except ValidationError as exc:  # the expression or name no longer passes: reject it
            self.message_user(request, f"Cannot apply this change: {' '.join(exc.messages)}", messages.ERROR)
        else:
            outcome = "approved and applied" if approve else "rejected"
            self.message_user(request, f"Change {done.public_id} to the rule “{done.rule_name}” {outcome}.")
        return back

    def get_queryset(self, request: HttpRequest) -> QuerySet[RuleChange]:
        return super().get_queryset(request).select_related("rule", "proposed_by", "decided_by")
