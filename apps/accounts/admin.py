"""Staff users in the admin: Django's user admin plus the two-factor enrolment of a user (a new
authenticator app and recovery codes, shown once) for whoever may change users."""

from __future__ import annotations

from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from apps.audit.actors import Actor

from .services import staff_totp_enrol

User = get_user_model()


def qr_svg(data: str) -> str:
    """The QR code as inline SVG markup (no image request, nothing cached)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")  # type: ignore[no-any-return]


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):  # type: ignore[type-arg]
    change_form_template = "admin/auth/user/staff_change_form.html"

    def get_urls(self) -> list[Any]:
        enrol = self.admin_site.admin_view(self.enrol_totp_view)
        return [path("<int:object_id>/two-factor/", enrol, name="auth_user_two_factor"), *super().get_urls()]

    def enrol_totp_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("auth.change_user"):
            raise PermissionDenied
        user = get_object_or_404(User, pk=object_id)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": user,
            "title": f"Two-factor authentication for {user.get_username()}",
            "change_url": reverse("admin:auth_user_change", args=[user.pk]),
        }
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            enrolment = staff_totp_enrol(user=user, actor=Actor.staff(request.user))
            context.update(
                enrolment=enrolment,
                qr=mark_safe(qr_svg(enrolment.uri)),  # noqa: S308 - qrcode's own SVG
            )
        # The admin's views are never cached (no-store): the codes stay out of every cache.
        return TemplateResponse(request, "admin/auth/user/two_factor.html", context)
