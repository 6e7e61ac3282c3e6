"""Customers in the back office: read-only lists (they change through the API and its services,
which audit each change; the admin adds, changes and deletes nothing)."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_readonly import ReadOnlyAdmin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "merchant", "email", "name", "created_at")
    search_fields = ("=public_id", "email", "name")
    list_select_related = ("merchant",)
    readonly_fields = ("public_id", "merchant", "created_at")
