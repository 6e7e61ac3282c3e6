from django.contrib import admin

from .models import PortalBranding


@admin.register(PortalBranding)
class PortalBrandingAdmin(admin.ModelAdmin[PortalBranding]):
    list_display = ["merchant", "display_name", "primary_color"]
    raw_id_fields = ["merchant"]
