"""Events out, for ops: the outbox, merchant endpoints and deliveries (resendable), read-only
records changed only through services."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.audit.actors import Actor
from apps.core.admin_actions import confirm_bulk_action, pretty_block
from apps.core.admin_pagination import FastCountPaginator
from apps.core.admin_readonly import ReadOnlyAdmin

from . import deliveries
from .errors import DeliveryInProgress
from .models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "type", "merchant", "object_id", "created_at", "relayed_at")
    list_filter = ("type", "created_at")
    search_fields = ("=public_id", "=object_id")
    list_select_related = ("merchant",)
    paginator = FastCountPaginator
    show_full_result_count = False
    fields = (
        "public_id",
        "merchant",
        "type",
        "livemode",
        "object_type",
        "object_id",
        "created_at",
        "relayed_at",
        "pretty_data",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def pretty_data(self, obj: Event) -> str:
        return pretty_block(json.dumps(obj.data, indent=2, sort_keys=True))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "merchant", "url", "enabled", "disabled_reason", "failing_since", "is_deleted")
    list_filter = ("enabled", "is_deleted")
    search_fields = ("=public_id", "url", "merchant__slug")
    list_select_related = ("merchant",)
    fields = (
        "public_id", "merchant", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since",
        "is_deleted", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields


class DeliveryAttemptInline(admin.TabularInline[Any, Any]):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("attempted_at", "status_code", "latency_ms", "error", "response_body")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("=public_id", "=event__public_id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    paginator = FastCountPaginator
    show_full_result_count = False
    inlines = [DeliveryAttemptInline]
    actions = ["resend_selected"]
    fields = (
        "public_id", "event", "endpoint", "status", "attempts", "next_attempt_at", "last_status_code", "last_error",
        "delivered_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="event")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("events.resend_webhookdelivery")

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            objects = list(queryset.select_related("event", "endpoint")[:200])
            for obj in objects:
                obj.label = f"{obj.event.type} to {obj.endpoint.url} ({obj.get_status_display()})"  # type: ignore[attr-defined]
            return confirm_bulk_action(
                self, request, objects, action="resend_selected", question="Resend these deliveries?", verb="resent"
            )
        count, busy = 0, []
        for delivery in queryset:
            try:
                deliveries.webhook_delivery_resend(delivery=delivery, actor=Actor.staff(request.user))
            except DeliveryInProgress:
                busy.append(delivery.public_id)
                continue
            count += 1
        self.message_user(request, f"{count} deliver(ies) queued to be sent again.", messages.SUCCESS)
        if busy:
            self.message_user(
                request,
                f"Not resent, being posted right now (try again in a few minutes): {', '.join(busy[:20])}",
                messages.WARNING,
            )
        return None
