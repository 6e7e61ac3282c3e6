from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError

from .models import ApiKey, ApiMode, Merchant
from .services import api_key_create, api_key_revoke, merchant_create, merchant_update


class MerchantCreateForm(forms.ModelForm[Merchant]):
    class Meta:
        model = Merchant
        fields = ["slug", "name"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin[Merchant]):
    list_display = ("slug", "name", "public_id", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("=public_id", "slug", "name")
    readonly_fields = ("public_id", "created_at")
    show_full_result_count = False

    def get_form(self, request: HttpRequest, obj: Merchant | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = MerchantCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Merchant | None = None) -> Any:
        return ("public_id", "slug", "created_at") if obj else ("public_id", "created_at")

    def save_model(self, request: HttpRequest, obj: Merchant, form: Any, change: bool) -> None:
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in ("name", "is_active")}
            merchant_update(merchant=obj, changes=changes, actor=Actor.staff(request.user))
            return
        created = merchant_create(slug=obj.slug, name=obj.name, actor=Actor.staff(request.user))
        obj.pk, obj.public_id, obj.created_at = created.pk, created.public_id, created.created_at

    def has_delete_permission(self, request: HttpRequest, obj: Merchant | None = None) -> bool:
        return False  # merchants are deactivated, never deleted: their money records must remain


class ApiKeyCreateForm(forms.ModelForm[ApiKey]):
    class Meta:
        model = ApiKey
        fields = ["merchant", "name", "mode"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("display", "merchant", "name", "mode", "created_at", "last_used_at", "revoked_at")
    list_filter = ("mode", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=public_id", "=prefix", "name", "merchant__slug")
    list_select_related = ("merchant",)
    raw_id_fields = ("merchant",)
    show_full_result_count = False
    actions = ["revoke_selected"]
    readonly_fields = (
        "public_id",
        "merchant",
        "name",
        "mode",
        "display",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    fields = readonly_fields

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ["merchant", "name", "mode"]
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return ["merchant", "name", "mode"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        issued = api_key_create(
            merchant=obj.merchant, mode=obj.mode or ApiMode.TEST, name=obj.name, actor=Actor.staff(request.user)
        )
        obj.pk = issued.api_key.pk
        obj._issued_secret = issued.secret  # type: ignore[attr-defined]
        obj.public_id = issued.api_key.public_id

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        # Render the secret straight into this response: never into messages or the session.
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "api_key": ApiKey.objects.select_related("merchant").get(pk=obj.pk),
            "secret": obj._issued_secret,  # type: ignore[attr-defined]
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/merchants/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Revoke API keys?",
                "keys": queryset.select_related("merchant"),
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/merchants/apikey/revoke_confirmation.html", context)
        revoked = 0
        for api_key in queryset:
            try:
                if api_key.revoked_at is None:
                    api_key_revoke(api_key=api_key, actor=Actor.staff(request.user))
                    revoked += 1
            except ApplicationError as exc:
                # "API key sk_…": the admin capitalises a message's first letter ("Sk_…").
                self.message_user(request, f"API key {api_key.display}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
        return None

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("merchants.revoke_apikey")
