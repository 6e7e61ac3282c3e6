"""Admin helpers for actions that change records through services: a confirmation page listing
what will be changed, and a readable block for JSON and raw bodies."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html


def pretty_block(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap;max-width:90ch'>{}</pre>", value)


def confirm_bulk_action(
    admin_view: admin.ModelAdmin[Any],
    request: HttpRequest,
    objects: list[Any],
    *,
    action: str,
    question: str,
    verb: str,
) -> HttpResponse:
    """The page that asks before a bulk action runs; its form posts the action again with
    confirm=yes. Each object needs a `label` attribute."""
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
    return TemplateResponse(request, "admin/confirm_bulk_action.html", context)
