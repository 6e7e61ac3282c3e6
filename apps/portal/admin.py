"""The portal's branding, set here (docs/api.md, "The hosted customer portal"): every save goes
through the audited service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.actors import Actor

from .models import PortalBranding
from .services import portal_branding_set


@admin.register(PortalBranding)
class PortalBrandingAdmin(admin.ModelAdmin[PortalBranding]):
    list_display = ["merchant", "display_name", "primary_color"]
    raw_id_fields = ["merchant"]

    def get_readonly_fields(self, request: HttpRequest, obj: PortalBranding | None = None) -> Any:
        return ("merchant",) if obj else ()

    def save_model(self, request: HttpRequest, obj: PortalBranding, form: Any, change: bool) -> None:
        saved = portal_branding_set(
            merchant=obj.merchant,
            display_name=obj.display_name,
            primary_color=obj.primary_color,
            actor=Actor.staff(request.user),
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: PortalBranding | None = None) -> bool:
        # Unaudited otherwise; the default look is a save away (blank name, the default colour).
        return False
