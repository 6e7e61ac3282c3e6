"""The finance dashboard and closing the day, pages of the admin site (staff login and 2FA apply), and the timeline
sections of the payment and customer change pages (see apps.reports.timeline for why they live here)."""

from __future__ import annotations

from typing import cast

from django.contrib import admin

from apps.core.admin_sections import register_change_section
from apps.core.admin_site import ClearhouseAdminSite

from .day_close_views import day_close_day_view, day_close_list_view
from .views import customer_timeline_section, dashboard_view, payment_timeline_section

site = cast(ClearhouseAdminSite, admin.site)
site.register_view("dashboard/", dashboard_view, name="dashboard")
site.register_view("day-close/", day_close_list_view, name="day_close")
site.register_view("day-close/<str:account_id>/<str:day_text>/", day_close_day_view, name="day_close_day")
register_change_section("payments.payment", payment_timeline_section)
register_change_section("payments.paymentunderreview", payment_timeline_section)
register_change_section("customers.customer", customer_timeline_section)
