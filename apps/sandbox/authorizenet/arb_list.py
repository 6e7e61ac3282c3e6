"""ARBGetSubscriptionList in the Authorize.Net sandbox, as the real API answers it.

searchType subscriptionActive | subscriptionInactive (suspended, canceled, terminated, expired) |
cardExpiringThisMonth (active, billing a card that expires this month) |
subscriptionExpiringThisMonth (active, its last payment falls this month); sorting by any of the
schema's fields (ascending unless orderDescending); paging `limit` 1..1000 per page and `offset`
the page number 1..100000; `totalNumInResultSet` counts the whole result before paging, and
each `subscriptionDetail` carries the schema's elements in its order (the card masked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone
from lxml import etree

from apps.core.money import to_decimal
from apps.sandbox.models import AnetAccount, AnetPaymentProfile, AnetSubscription

from .arb_dates import occurrence_date
from .cim import payment_profile_for
from .xml import Builder, error_response, find, find_text

OK = ("I00001", "Successful.")
SEARCH_TYPES = frozenset(
    {"subscriptionActive", "subscriptionInactive", "cardExpiringThisMonth", "subscriptionExpiringThisMonth"}
)
MAX_LIMIT, MAX_OFFSET = 1000, 100_000
ONGOING = 9999  # totalOccurrences of a subscription with no end


@dataclass
class _Row:
    subscription: AnetSubscription
    card: AnetPaymentProfile | None

    @property
    def account_number(self) -> str:
        return f"XXXX{self.card.card_last4 if self.card else ''}"

    def sort_key(self, order_by: str) -> Any:
        subscription = self.subscription
        return {
            "id": subscription.pk,
            "name": subscription.name.lower(),
            "status": subscription.status,
            "createTimeStampUTC": subscription.created_at,
            "lastName": subscription.last_name.lower(),
            "firstName": subscription.first_name.lower(),
            "accountNumber": self.account_number,
            "amount": subscription.amount,
            "pastOccurrences": subscription.payments_made,
        }[order_by]


def _matches(row: _Row, search_type: str, today: date) -> bool:
    subscription = row.subscription
    active = subscription.status == AnetSubscription.Status.ACTIVE
    if search_type == "subscriptionActive":
        return active
    if search_type == "subscriptionInactive":
        return not active
    if search_type == "cardExpiringThisMonth":
        return active and row.card is not None and row.card.expiration == f"{today.year:04d}-{today.month:02d}"
    last = (
        occurrence_date(subscription, subscription.total_occurrences)
        if subscription.total_occurrences != ONGOING
        else None
    )
    return active and last is not None and (last.year, last.month) == (today.year, today.month)


def _paging(root: etree._Element) -> tuple[int, int] | None:
    paging = find(root, "paging")
    if paging is None:
        return MAX_LIMIT, 1
    try:
        limit, offset = int(find_text(paging, "limit")), int(find_text(paging, "offset"))
    except ValueError:
        return None
    if not (1 <= limit <= MAX_LIMIT and 1 <= offset <= MAX_OFFSET):
        return None
    return limit, offset


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def subscription_list(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    search_type = find_text(root, "searchType")
    if search_type not in SEARCH_TYPES:
        return error_response(response_root, "E00003", f"The searchType '{search_type[:40]}' is invalid.", ref_id)
    paging = _paging(root)
    if paging is None:
        return error_response(response_root, "E00003", "Paging limit must be 1 to 1000 and offset 1 to 100000.", ref_id)
    order_by = find_text(root, "sorting/orderBy") or "id"
    if order_by not in {"id", "name", "status", "createTimeStampUTC", "lastName", "firstName", "accountNumber",
                        "amount", "pastOccurrences"}:  # fmt: skip
        return error_response(response_root, "E00003", f"The orderBy '{order_by[:40]}' is invalid.", ref_id)
    descending = find_text(root, "sorting/orderDescending").lower() in {"true", "1"}
    today = timezone.now().date()
    rows = [
        _Row(
            subscription,
            payment_profile_for(account, subscription.customer_profile_id, subscription.payment_profile_id),
        )
        for subscription in AnetSubscription.objects.filter(account=account).order_by("pk")
    ]
    rows = sorted(
        (row for row in rows if _matches(row, search_type, today)),
        key=lambda row: (row.sort_key(order_by), row.subscription.pk),
        reverse=descending,
    )
    limit, offset = paging
    page = rows[(offset - 1) * limit : offset * limit]
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    builder.add(builder.root, "totalNumInResultSet", len(rows))
    if page:
        details = builder.add(builder.root, "subscriptionDetails")
        for row in page:
            _detail(builder, details, row)
    return builder.to_bytes()


def _detail(builder: Builder, parent: etree._Element, row: _Row) -> None:
    subscription = row.subscription
    node = builder.add(parent, "subscriptionDetail")
    builder.add(node, "id", subscription.subscription_id)
    builder.add_optional(node, "name", subscription.name)
    builder.add(node, "status", subscription.status)
    builder.add(node, "createTimeStampUTC", _utc(subscription.created_at))
    builder.add_optional(node, "firstName", subscription.first_name)
    builder.add_optional(node, "lastName", subscription.last_name)
    builder.add(node, "totalOccurrences", subscription.total_occurrences)
    builder.add(node, "pastOccurrences", subscription.payments_made)
    builder.add(node, "paymentMethod", "creditCard")
    builder.add(node, "accountNumber", row.account_number)
    builder.add(node, "invoice", subscription.invoice_number)
    builder.add(node, "amount", to_decimal(subscription.amount, subscription.currency))
    builder.add(node, "currencyCode", subscription.currency)
    builder.add(node, "customerProfileId", subscription.customer_profile_id)
    builder.add(node, "customerPaymentProfileId", subscription.payment_profile_id)
