"""The finance dashboard, a page of the admin site (staff login and 2FA apply)."""

from __future__ import annotations

from typing import cast

from django.contrib import admin

from apps.core.admin_site import ClearhouseAdminSite

from .views import dashboard_view

cast(ClearhouseAdminSite, admin.site).register_view("dashboard/", dashboard_view, name="dashboard")
