"""Customers in the back office: read-only lists (they change through the API and its services)."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_pagination import FastCountPaginator

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin[Customer]):
    list_display = ("public_id", "merchant", "email", "name", "created_at")
    search_fields = ("=public_id", "email", "name")
    list_select_related = ("merchant",)
    show_full_result_count = False
    paginator = FastCountPaginator
    readonly_fields = ("public_id", "merchant", "created_at")
