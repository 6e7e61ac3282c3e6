from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .models import AuditEvent
from .selectors import FINANCE_TARGET_TYPES, audit_events_visible_to


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[Any]):
    """Read-only for everybody. audit.view_auditevent (auditors) shows every event;
    audit.view_finance_auditevent (finance approvers) only the events of finance objects."""

    list_display = ("occurred_at", "action", "actor_type", "actor_label", "target_type", "target_id", "merchant")
    list_filter = ("action", "actor_type", "target_type", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("=target_id", "=correlation_id", "=actor_id", "actor_label")
    list_select_related = ("merchant",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = (
        "occurred_at",
        "action",
        "actor_type",
        "actor_id",
        "actor_label",
        "merchant",
        "target_type",
        "target_id",
        "target_label",
        "before_pretty",
        "after_pretty",
        "correlation_id",
        "ip_address",
        "user_agent",
        "chain",
        "prev_hash",
        "hash",
    )
    exclude = ("before", "after")

    @admin.display(description="before")
    def before_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.before, indent=2, sort_keys=True))

    @admin.display(description="after")
    def after_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.after, indent=2, sort_keys=True))

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return audit_events_visible_to(request.user, super().get_queryset(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if super().has_view_permission(request, obj):
            return True
        finance_only = request.user.has_perm("audit.view_finance_auditevent")
        return finance_only and (obj is None or obj.target_type in FINANCE_TARGET_TYPES)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
