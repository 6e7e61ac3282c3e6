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
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

TOTP_DIGITS = 6


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code from the authenticator app (or a recovery code), in one step.

    django-otp asks the user to pick a device even when they have one, and re-renders the form with
    the password filled in (its value in the page's HTML). Here the user's only device is taken
    when none is chosen, and the password is never rendered back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["otp_token"].widget.attrs.update(
            {"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*", "maxlength": "8"}
        )

    def _chosen_device(self, user: Any) -> Device | None:
        """The device picked in the menu, else the one the code's shape names: six digits are the
        authenticator app's, anything else a recovery code (each device is tried alone, so a
        recovery code never counts as a failed attempt against the app, nor the reverse)."""
        chosen: Device | None = super()._chosen_device(user)
        if chosen is None and not self.cleaned_data.get("otp_device"):
            token = (self.cleaned_data.get("otp_token") or "").strip()
            kind = TOTPDevice if token.isdigit() and len(token) == TOTP_DIGITS else StaticDevice
            candidates = [device for device in devices_for_user(user) if isinstance(device, kind)]
            if len(candidates) == 1:
                chosen = candidates[0]
        return chosen

    def _update_form(self, user: Any) -> None:
        super()._update_form(user)
        if "password" in self.fields:
            self.fields["password"].widget.render_value = False
        # The menu is offered only to someone with more than one authenticator app.
        if sum(isinstance(device, TOTPDevice) for device in devices_for_user(user)) < 2:
            self.fields["otp_device"].widget.choices = []


class ClearhouseAdminSite(OTPAdminSite):
    site_header = "Clearhouse back office"
    site_title = "Clearhouse"
    index_title = "Back office"
    # The app menu beside every page took a fifth of a 1400 px screen from the lists; the index
    # and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False

    @property
    def login_form(self) -> Any:
        return StaffLoginForm if settings.ADMIN_REQUIRE_OTP else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return "admin/otp_login.html" if settings.ADMIN_REQUIRE_OTP else None

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
