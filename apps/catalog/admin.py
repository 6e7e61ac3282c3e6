from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.audit.actors import Actor
from apps.core.money import SUPPORTED_CURRENCIES, format_amount
from apps.payments.forms import MoneyAmountField

from .models import CheckoutOrder, Entitlement, Price, Product
from .services import checkout_status, price_create, price_update, product_create, product_update


class _Shown(forms.Widget):
    """A field shown as text, not an input (with a disabled field: nothing posted is read)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        return format_html("<p>{}</p>", self.text)


class PriceForm(forms.ModelForm[Price]):
    """A new price takes its amount typed in the currency's own decimals (as the other admin
    money inputs take it), handed on in minor units, and an ISO 4217 currency; what is refused is
    a form error, never a 500. A price that may have been charged keeps its amount and currency
    (add a new price instead): shown as money, never as bare minor units, never read from input."""

    amount = forms.CharField(max_length=40, help_text="In the currency's units, e.g. 12.50 USD or 1500 JPY")
    currency = forms.ChoiceField(choices=[("", "---------"), *((code, code) for code in sorted(SUPPORTED_CURRENCIES))])

    class Meta:
        model = Price
        fields = ["nickname", "amount", "currency", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            price = self.instance
            self.fields["amount"] = forms.CharField(
                disabled=True, required=False, widget=_Shown(format_amount(price.amount, price.currency))
            )
            self.fields["currency"] = forms.CharField(disabled=True, required=False, widget=_Shown(price.currency))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is not None:
            cleaned["amount"], cleaned["currency"] = self.instance.amount, self.instance.currency
            return cleaned
        currency, text = cleaned.get("currency"), cleaned.get("amount")
        if not currency:
            cleaned.pop("amount", None)  # read only in a currency: the currency's own error says why
        elif text is not None:
            try:
                cleaned["amount"] = MoneyAmountField(currency=currency).clean(text)
            except forms.ValidationError as exc:
                self.add_error("amount", exc)
        return cleaned


class PriceInline(admin.TabularInline[Price, Product]):
    model = Price
    form = PriceForm
    extra = 1
    fields = ("public_id", "nickname", "amount", "currency", "active")
    readonly_fields = ("public_id",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ("name", "merchant", "active", "public_id", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "=public_id", "merchant__slug")
    list_select_related = ("merchant",)
    raw_id_fields = ("merchant",)
    readonly_fields = ("public_id", "created_at")
    inlines = (PriceInline,)

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        if change:
            changes = {
                name: getattr(obj, name) for name in form.changed_data if name in ("name", "description", "active")
            }
            product_update(product=obj, changes=changes, actor=Actor.staff(request.user))
            return
        created = product_create(
            merchant=obj.merchant, name=obj.name, description=obj.description, actor=Actor.staff(request.user)
        )
        obj.pk, obj.public_id = created.pk, created.public_id

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for instance in formset.save(commit=False):
            if instance.pk is None:
                created = price_create(
                    product=form.instance,
                    amount=instance.amount,
                    currency=instance.currency,
                    nickname=instance.nickname,
                    actor=Actor.staff(request.user),
                )
                if not instance.active:  # added as not on sale yet
                    price_update(price=created, changes={"active": False}, actor=Actor.staff(request.user))
            else:
                changes = {"nickname": instance.nickname, "active": instance.active}
                price_update(price=instance, changes=changes, actor=Actor.staff(request.user))
        for removed in formset.deleted_objects:
            # Prices may have been charged: deactivated, never deleted.
            price_update(price=removed, changes={"active": False}, actor=Actor.staff(request.user))


@admin.register(CheckoutOrder)
class CheckoutOrderAdmin(admin.ModelAdmin[CheckoutOrder]):
    list_display = ("public_id", "merchant", "what", "amount", "state", "customer", "created_at", "completed_at")
    list_filter = ("completed_at", "created_at")
    search_fields = ("=public_id", "=payment__public_id", "=payment__gateway_order_id", "customer__email")
    list_select_related = ("merchant", "payment", "price__product", "customer")
    readonly_fields = [field.name for field in CheckoutOrder._meta.fields]
    ordering = ("-id",)

    @admin.display(description="bought")
    def what(self, obj: CheckoutOrder) -> str:
        return f"{obj.quantity} x {obj.price.product.name}"

    @admin.display(description="amount")
    def amount(self, obj: CheckoutOrder) -> str:
        return format_amount(obj.payment.amount, obj.payment.currency)

    @admin.display(description="status")
    def state(self, obj: CheckoutOrder) -> str:
        return checkout_status(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin[Entitlement]):
    list_display = ("public_id", "customer", "product", "quantity", "checkout_order", "granted_at")
    search_fields = ("=public_id", "customer__email", "product__name")
    list_select_related = ("customer", "product", "checkout_order")
    readonly_fields = [field.name for field in Entitlement._meta.fields]
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
