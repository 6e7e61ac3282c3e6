from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError

from .models import GatewayAccount, GatewayName
from .services import gateway_account_create, gateway_account_set_credentials


class GatewayAccountForm(forms.ModelForm[GatewayAccount]):
    """Credentials are typed in, encrypted, and never shown again (blank keeps the stored value)."""

    api_login_id = forms.CharField(required=False, label="API login id (Authorize.Net)")
    transaction_key = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Transaction key (Authorize.Net)"
    )
    signature_key = forms.CharField(required=False, widget=forms.PasswordInput, label="Signature key (Authorize.Net)")
    key_id = forms.CharField(required=False, label="Key id (Razorpay)")
    key_secret = forms.CharField(required=False, widget=forms.PasswordInput, label="Key secret (Razorpay)")
    webhook_secret = forms.CharField(required=False, widget=forms.PasswordInput, label="Webhook secret")

    credential_fields = ("api_login_id", "transaction_key", "signature_key", "key_id", "key_secret", "webhook_secret")

    class Meta:
        model = GatewayAccount
        fields = ["merchant", "gateway", "mode", "name", "currency", "is_active"]

    def credentials(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in self.credential_fields}


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
                obj.save(update_fields=["name", "currency", "is_active", "updated_at"])
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
