"""The base of every admin over money and log records: nothing added, changed or deleted by
hand, and lists that never count a big table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .admin_pagination import FastCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    show_full_result_count = False
    paginator = FastCountPaginator

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
