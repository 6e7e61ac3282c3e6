"""The back-office admin site: django-otp TOTP required when ADMIN_REQUIRE_OTP is on (prod)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.models import Device


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code from the authenticator app, in one step.

    django-otp asks the user to pick a device even when they have one, and re-renders the form with
    the password filled in (its value in the page's HTML). Here the user's only device is taken
    when none is chosen, and the password is never rendered back."""

    def _chosen_device(self, user: Any) -> Device | None:
        chosen: Device | None = super()._chosen_device(user)
        if chosen is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user))
            if len(devices) == 1:
                chosen = devices[0]
        return chosen

    def _update_form(self, user: Any) -> None:
        super()._update_form(user)
        if "password" in self.fields:
            self.fields["password"].widget.render_value = False


class ClearhouseAdminSite(OTPAdminSite):
    site_header = "Clearhouse back office"
    site_title = "Clearhouse"
    index_title = "Back office"

    @property
    def login_form(self) -> Any:
        return StaffLoginForm if settings.ADMIN_REQUIRE_OTP else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return "otp/admin111/login.html" if settings.ADMIN_REQUIRE_OTP else None

    def __init__(self, name: str = "admin") -> None:
        AdminSite.__init__(self, name)
        self._extra_views: list[tuple[str, Callable[..., HttpResponse], str]] = []

    def register_view(self, route: str, view: Callable[..., HttpResponse], name: str) -> None:
        """A page of an app's own under the admin (staff login and 2FA apply): the reports app's
        dashboard. Apps call this from their admin module, so the site needs to know none of them."""
        self._extra_views.append((route, view, name))

    def get_urls(self) -> list[Any]:
        extra = [path(route, self.admin_view(view), name=name) for route, view, name in self._extra_views]
        return [*extra, *super().get_urls()]

    def has_permission(self, request: HttpRequest) -> bool:
        allowed = AdminSite.has_permission(self, request)
        if settings.ADMIN_REQUIRE_OTP:
            return allowed and request.user.is_verified()  # type: ignore[union-attr]
        return allowed
