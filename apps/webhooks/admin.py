"""Webhook inspector for ops: incoming gateway notifications, read-only, replayable through services.
(Our own outgoing deliveries are in the events app's admin.)"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from apps.audit.actors import Actor
from apps.core.admin_actions import confirm_bulk_action, pretty_block
from apps.core.admin_pagination import FastCountPaginator
from apps.core.admin_readonly import ReadOnlyAdmin

from . import services
from .models import IncomingWebhook


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
            return pretty_block(json.dumps(json.loads(obj.body_text), indent=2, sort_keys=True))
        except ValueError:
            return pretty_block(obj.body_text)

    @admin.display(description="headers")
    def pretty_headers(self, obj: IncomingWebhook) -> str:
        return pretty_block(json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="last traceback")
    def pretty_traceback(self, obj: IncomingWebhook) -> str:
        return pretty_block(obj.last_traceback) if obj.last_traceback else "—"

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.replay_incomingwebhook")

    @admin.action(description="Replay selected notifications", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[IncomingWebhook]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            objects = list(queryset[:200])
            for obj in objects:
                obj.label = f"{obj.event_type} ({obj.get_status_display()}, {obj.attempts} attempts)"  # type: ignore[attr-defined]
            return confirm_bulk_action(
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
