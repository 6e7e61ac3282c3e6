from __future__ import annotations

from django.db.models import QuerySet

from apps.core.errors import NotFoundError
from apps.customers.models import Customer
from apps.merchants.models import Merchant

from .models import PaymentMethod


def customer_list(*, merchant: Merchant) -> QuerySet[Customer]:
    return Customer.objects.filter(merchant=merchant)


def payment_method_list(*, customer: Customer) -> QuerySet[PaymentMethod]:
    return (
        PaymentMethod.objects.filter(customer=customer, status=PaymentMethod.Status.ACTIVE)
        .select_related("customer")
        .order_by("-is_default", "-id")
    )


def payment_method_get(*, customer: Customer, public_id: str, param: str = "payment_method") -> PaymentMethod:
    try:
        return PaymentMethod.objects.select_related("customer", "gateway_account", "profile").get(
            customer=customer, public_id=public_id
        )
    except PaymentMethod.DoesNotExist as exc:
        raise NotFoundError(f"No such payment method for this customer: {public_id!r}.", param=param) from exc


def customer_get(*, merchant: Merchant, public_id: str) -> Customer:
    try:
        return Customer.objects.get(merchant=merchant, public_id=public_id)
    except Customer.DoesNotExist as exc:
        raise NotFoundError(f"No such customer: {public_id!r}.", param="customer") from exc
