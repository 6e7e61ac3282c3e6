"""Staff users in the admin: Django's user admin plus the two-factor enrolment of a user (a new
authenticator app and recovery codes, shown once) for whoever may change users. Every change to a
user's privileges or password here (the user's form, "change password", the admin's own password
page) and every deletion is audited in the transaction that makes it (security_audit.py)."""

from __future__ import annotations

from typing import Any, cast

import qrcode
import qrcode.image.svg
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from apps.audit.actors import Actor
from apps.core.admin_site import ClearhouseAdminSite

from .admin_security import AuditedDeletionAdmin
from .security_audit import staff_user_audited
from .services import staff_totp_enrol

User = get_user_model()


def qr_svg(data: str) -> str:
    """The QR code as inline SVG markup (no image request, nothing cached)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")  # type: ignore[no-any-return]


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(AuditedDeletionAdmin, UserAdmin):  # type: ignore[type-arg]
    change_form_template = "admin/auth/user/staff_change_form.html"

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        with staff_user_audited(user=obj, actor=Actor.staff(request.user)):
            super().save_model(request, obj, form, change)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        user = self.get_object(request, unquote(id))
        if user is None or request.method != "POST":
            return super().user_change_password(request, id, form_url)  # a 404 or the form
        with staff_user_audited(user=user, actor=Actor.staff(request.user)):
            return super().user_change_password(request, id, form_url)

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


def own_password_change_view(request: HttpRequest) -> HttpResponse:
    """The admin's "change password" page for the signed-in user, audited in its transaction."""
    user = cast(AbstractUser, request.user)
    if request.method != "POST":
        return admin.site.password_change(request)
    with staff_user_audited(user=user, actor=Actor.staff(user)):
        return admin.site.password_change(request)


# Registered views come before the site's own, so this one serves /admin/password_change/.
cast(ClearhouseAdminSite, admin.site).register_view("password_change/", own_password_change_view, "password_change")
