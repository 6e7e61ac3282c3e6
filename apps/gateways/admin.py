from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from apps.audit.actors import Actor

from .models import GatewayAccount, GatewayName
from .registry import GATEWAYS, credential_fields
from .services import (
    GatewayAccountConflict,
    credentials_missing,
    gateway_account_create,
    gateway_account_set_credentials,
    gateway_account_update,
)


def _credential_form_fields() -> dict[str, forms.Field]:
    """One field per credential any gateway takes (the registry says which), labelled with it."""
    fields: dict[str, forms.Field] = {}
    for gateway, entry in GATEWAYS.items():
        for credential in entry.credentials:
            label = f"{credential.label} ({GatewayName(gateway).label})"
            if credential.name in fields:
                fields[credential.name].label = f"{fields[credential.name].label}, {GatewayName(gateway).label}"
                continue
            widget = forms.PasswordInput if credential.secret else forms.TextInput
            fields[credential.name] = forms.CharField(required=False, widget=widget, label=label)
    return fields


class GatewayAccountForm(forms.ModelForm[GatewayAccount]):
    """Credentials are typed in, encrypted, and never shown again (blank keeps the stored value)."""

    class Meta:
        model = GatewayAccount
        fields = ["merchant", "gateway", "mode", "name", "currency", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_credential_form_fields())

    def credentials(self) -> dict[str, str]:
        gateway = self.cleaned_data.get("gateway") or self.instance.gateway or GatewayName.AUTHORIZENET
        names = [credential.name for credential in credential_fields(gateway)]
        return {name: self.cleaned_data.get(name, "") for name in names}

    def clean(self) -> dict[str, Any]:
        """What the services would refuse, refused here so the page shows it and nothing changes:
        a credential the gateway requires left blank (on a change: neither typed nor stored), and
        a second active account of the merchant at the gateway in the mode."""
        cleaned = super().clean() or {}
        adding = self.instance.pk is None
        gateway = cleaned.get("gateway") if adding else self.instance.gateway
        if not gateway:
            return cleaned
        stored = {} if adding else self.instance.credentials()
        typed = {name: value for name, value in self.credentials().items() if value}
        for name in credentials_missing(gateway, {**stored, **typed}):
            self.add_error(name, f"Required for {GatewayName(gateway).label}.")
        merchant = cleaned.get("merchant") if adding else self.instance.merchant
        mode = cleaned.get("mode") if adding else self.instance.mode
        if merchant is not None and mode and cleaned.get("is_active"):
            others = GatewayAccount.objects.filter(merchant=merchant, gateway=gateway, mode=mode, is_active=True)
            if others.exclude(pk=self.instance.pk).exists():
                self.add_error("is_active", f"{GatewayAccountConflict.default_message} Deactivate it first.")
        return cleaned


@admin.register(GatewayAccount)
class GatewayAccountAdmin(admin.ModelAdmin[GatewayAccount]):
    form = GatewayAccountForm
    list_display = ("public_id", "merchant", "gateway", "mode", "currency", "is_active", "credentials_hint")
    list_filter = ("gateway", "mode", "is_active")
    search_fields = ("=public_id", "merchant__slug", "name")
    list_select_related = ("merchant",)
    raw_id_fields = ("merchant",)
    readonly_fields = ("public_id", "credentials_hint", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: GatewayAccount | None = None) -> Any:
        return (*self.readonly_fields, "merchant", "gateway", "mode") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: GatewayAccount, form: Any, change: bool) -> None:
        # The form refused what the services would (GatewayAccountForm.clean).
        actor = Actor.staff(request.user)
        if change:
            changes = {
                name: getattr(obj, name) for name in form.changed_data if name in ("name", "currency", "is_active")
            }
            gateway_account_update(account=obj, changes=changes, actor=actor)
            if any(form.credentials().values()):
                gateway_account_set_credentials(account=obj, credentials=form.credentials(), actor=actor)
            return
        created = gateway_account_create(
            merchant=obj.merchant,
            gateway=obj.gateway or GatewayName.AUTHORIZENET,
            mode=obj.mode,
            credentials=form.credentials(),
            currency=obj.currency,
            name=obj.name,
            actor=actor,
        )
        obj.pk, obj.public_id = created.pk, created.public_id

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except GatewayAccountConflict as exc:
            # Another account became active after the form's check (the database's constraint
            # decided): the page's transaction rolled back, nothing changed.
            self.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def has_delete_permission(self, request: HttpRequest, obj: GatewayAccount | None = None) -> bool:
        return False
