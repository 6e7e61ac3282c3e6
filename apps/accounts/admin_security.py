"""Admins of staff security records other than users: roles (Django's groups), two-factor devices
and django-axes' login records. Whatever is deleted here is audited (records_delete), and so is a
role added or renamed (role_save); devices and login records are otherwise read-only, so a device
(its secret) is neither added nor changed outside the audited enrolment, and no secret is shown."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.actors import Actor

from .security_audit import records_delete
from .services import role_save


class AuditedDeletionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Deleting from the object's page or with the list's action goes through records_delete."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        records_delete(records=[obj], actor=Actor.staff(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        records_delete(records=list(queryset), actor=Actor.staff(request.user))


class ViewAndDeleteOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RoleAdmin(AuditedDeletionAdmin, GroupAdmin):
    """Django's group admin: a role added or renamed is audited by role_save, its permission
    changes by the m2m signal, both in the admin's transaction."""

    def save_model(self, request: HttpRequest, obj: Group, form: ModelForm[Group], change: bool) -> None:
        role_save(role=obj, actor=Actor.staff(request.user))


class DeviceAdmin(ViewAndDeleteOnly, AuditedDeletionAdmin):
    """A lost device is removed here (audited); a new one is enrolled on the user's page."""

    list_display = ["user", "name", "created_at", "last_used_at", "confirmed"]
    fields = ["user", "name", "created_at", "last_used_at", "confirmed"]  # never the key, nor recovery codes
    list_filter = ["confirmed"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]


class LoginFailuresAdmin(ViewAndDeleteOnly, AuditedDeletionAdmin, AccessAttemptAdmin):
    """Deleting a row unlocks its username at its address: audited."""

    actions: Any = []  # axes' "clean up expired attempts" deletes unaudited


class LoginLogAdmin(ViewAndDeleteOnly, AccessLogAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LoginFailureLogAdmin(ViewAndDeleteOnly, AccessFailureLogAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


for model, model_admin in [
    (Group, RoleAdmin),
    (TOTPDevice, DeviceAdmin),
    (StaticDevice, DeviceAdmin),
    (AccessAttempt, LoginFailuresAdmin),
    (AccessLog, LoginLogAdmin),
    (AccessFailureLog, LoginFailureLogAdmin),
]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
