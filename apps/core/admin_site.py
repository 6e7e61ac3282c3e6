"""The back-office admin site: django-otp TOTP required when ADMIN_REQUIRE_OTP is on (prod)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class ClearhouseAdminSite(OTPAdminSite):
    site_header = "Clearhouse back office"
    site_title = "Clearhouse"
    index_title = "Back office"

    def __init__(self, name: str = "admin") -> None:
        AdminSite.__init__(self, name)

    @property
    def login_form(self) -> Any:
        return OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_OTP else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return "otp/admin111/login.html" if settings.ADMIN_REQUIRE_OTP else None

    def get_urls(self) -> list[Any]:
        from django.urls import path

        from apps.reports.views import dashboard_view

        return [path("dashboard/", self.admin_view(dashboard_view), name="dashboard"), *super().get_urls()]

    def has_permission(self, request: HttpRequest) -> bool:
        allowed = AdminSite.has_permission(self, request)
        if settings.ADMIN_REQUIRE_OTP:
            return allowed and request.user.is_verified()  # type: ignore[union-attr]
        return allowed
