"""Webhook inspector for ops: incoming gateway notifications (replayable) and our own outgoing
deliveries (resendable), both read-only records, changed only through services."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from apps.audit.actors import Actor
from apps.core.admin_pagination import FastCountPaginator

from . import services
from .models import DeliveryAttempt, Event, IncomingWebhook, WebhookDelivery, WebhookEndpoint


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap;max-width:90ch'>{}</pre>", value)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _confirm(
    admin_view: admin.ModelAdmin,
    request: HttpRequest,
    objects: list[Any],
    *,
    action: str,
    question: str,
    verb: str,
) -> HttpResponse:
    opts = admin_view.model._meta
    context = {
        **admin_view.admin_site.each_context(request),
        "title": question,
        "question": question,
        "objects": objects,
        "action": action,
        "verb": verb,
        "opts": opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "back_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, "admin/webhooks/confirm_bulk_action.html", context)


@admin.register(IncomingWebhook)
class IncomingWebhookAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "gateway", "event_type", "status", "attempts", "received_at", "payment_link")
    list_filter = ("status", "gateway", "event_type", "received_at")
    search_fields = ("=public_id", "=event_id", "=object_id", "payment__public_id")
    list_select_related = ("payment",)
    paginator = FastCountPaginator
    show_full_result_count = False
    date_hierarchy = "received_at"
    actions = ["replay_selected"]
    fields = (
        "public_id", "gateway", "gateway_account", "merchant", "event_id", "event_type", "object_id", "status",
        "attempts", "received_at", "next_attempt_at", "processed_at", "result", "payment_link", "correlation_id",
        "pretty_payload", "pretty_headers", "last_error", "pretty_traceback",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="payment")
    def payment_link(self, obj: IncomingWebhook) -> str:
        if obj.payment_id is None:
            return "—"
        url = reverse("admin:payments_payment_change", args=[obj.payment_id])
        return format_html('<a href="{}">{}</a>', url, obj.payment.public_id if obj.payment else obj.payment_id)

    @admin.display(description="payload")
    def pretty_payload(self, obj: IncomingWebhook) -> str:
        try:
            return _pretty(json.dumps(json.loads(obj.body_text), indent=2, sort_keys=True))
        except ValueError:
            return _pretty(obj.body_text)

    @admin.display(description="headers")
    def pretty_headers(self, obj: IncomingWebhook) -> str:
        return _pretty(json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="last traceback")
    def pretty_traceback(self, obj: IncomingWebhook) -> str:
        return _pretty(obj.last_traceback) if obj.last_traceback else "—"

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.replay_incomingwebhook")

    @admin.action(description="Replay selected notifications", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[IncomingWebhook]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            objects = list(queryset[:200])
            for obj in objects:
                obj.label = f"{obj.event_type} ({obj.get_status_display()}, {obj.attempts} attempts)"  # type: ignore[attr-defined]
            return _confirm(
                self,
                request,
                objects,
                action="replay_selected",
                question="Replay these notifications?",
                verb="replayed",
            )
        count = services.incoming_webhooks_replay(webhooks=queryset, actor=Actor.staff(request.user))
        self.message_user(request, f"{count} notification(s) queued for processing again.", messages.SUCCESS)
        return None


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
        return _pretty(json.dumps(obj.data, indent=2, sort_keys=True))


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


class DeliveryAttemptInline(admin.TabularInline):
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
        return request.user.has_perm("webhooks.resend_webhookdelivery")

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            objects = list(queryset.select_related("event", "endpoint")[:200])
            for obj in objects:
                obj.label = f"{obj.event.type} to {obj.endpoint.url} ({obj.get_status_display()})"  # type: ignore[attr-defined]
            return _confirm(
                self, request, objects, action="resend_selected", question="Resend these deliveries?", verb="resent"
            )
        count = 0
        for delivery in queryset:
            services.webhook_delivery_resend(delivery=delivery, actor=Actor.staff(request.user))
            count += 1
        self.message_user(request, f"{count} deliver(ies) queued to be sent again.", messages.SUCCESS)
        return None
