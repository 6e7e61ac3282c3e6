from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError

from .models import GatewayAccount, GatewayName
from .registry import GATEWAYS, credential_fields
from .services import gateway_account_create, gateway_account_set_credentials, gateway_account_update


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
        actor = Actor.staff(request.user)
        try:
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
        except (ApplicationError, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            raise

    def has_delete_permission(self, request: HttpRequest, obj: GatewayAccount | None = None) -> bool:
        return False
