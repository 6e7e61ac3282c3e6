"""Admin change pages opened by an object's public id (`/admin/payments/payment/pay_…/change/`):
staff paste the ids they see in the API, logs and emails. Any other non-numeric id is "not found",
never a server error."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


class PublicIdChangeMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    def change_view_by_public_id(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page of the object with this public id, or the list with a message."""
        opts = self.model._meta
        has_public_id = any(field.name == "public_id" for field in opts.get_fields())
        found = self.get_queryset(request).filter(public_id=object_id).first() if has_public_id else None
        if found is not None:
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[found.pk]))
        messages.warning(request, f"No {opts.verbose_name} with id “{object_id[:64]}”.")
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            return self.change_view_by_public_id(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)
