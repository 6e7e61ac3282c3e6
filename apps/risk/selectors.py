"""Reads of the risk rules and lists."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from apps.core.errors import NotFoundError

from .models import ListEntry, Rule

if TYPE_CHECKING:  # tenancy is named, not imported
    from apps.merchants.models import Merchant


# The enabled rules as this process last read them, under the stamp of the rule table they were
# read at. Every change to a rule raises its version and its updated_at (apps.risk.services), a
# new rule raises the count and the largest id, a deletion lowers the count: any change makes a
# new stamp (and so does turning rules on or off, even by a bulk update). Reading the stamp is
# one aggregate row, not every rule (the payment path's cost).
_enabled: tuple[tuple[Any, ...], list[Rule]] | None = None


def rules_enabled() -> list[Rule]:
    """The rules an assessment evaluates, in a stable order (by name). Shared by the process:
    read them, never change them."""
    global _enabled  # noqa: PLW0603 - a per-process cache, replaced whole (safe across threads)
    figures = Rule.objects.aggregate(
        count=Count("pk"),
        enabled=Count("pk", filter=Q(enabled=True)),
        versions=Sum("version"),
        last=Max("pk"),
        changed=Max("updated_at"),
    )
    stamp = tuple(figures[name] for name in ("count", "enabled", "versions", "last", "changed"))
    cached = _enabled
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rules = list(Rule.objects.filter(enabled=True).order_by("name", "pk"))
    _enabled = (stamp, rules)
    return rules


def list_entries_matching(
    *, candidates: dict[str, list[str]], now: datetime, merchant_id: int | None = None
) -> list[ListEntry]:
    """The unexpired list entries whose value is one of the candidates of their kind
    (apps.risk.lists.list_candidates), allow entries first: the deployment-wide entries, and
    those of the merchant `merchant_id` (none of any merchant's when it is None)."""
    if not candidates:
        return []
    match = Q()
    for kind, values in candidates.items():
        match |= Q(kind=kind, value__in=values)
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    scope = Q(merchant__isnull=True)
    if merchant_id is not None:
        scope |= Q(merchant_id=merchant_id)
    # "allow" < "block": allow entries come first, then by kind and value for a stable order.
    return list(ListEntry.objects.filter(match, unexpired, scope).order_by("action", "kind", "value", "pk"))


def list_entry_list(*, merchant: Merchant, kind: str | None = None, action: str | None = None) -> QuerySet[ListEntry]:
    """A merchant's own list entries (never the deployment-wide ones), optionally of one kind or action."""
    entries = ListEntry.objects.filter(merchant=merchant)
    if kind is not None:
        entries = entries.filter(kind=kind)
    if action is not None:
        entries = entries.filter(action=action)
    return entries


def list_entry_get(*, merchant: Merchant, public_id: str) -> ListEntry:
    """One of the merchant's own list entries; NotFoundError for any other (another merchant's,
    a deployment-wide one, none)."""
    try:
        return ListEntry.objects.get(merchant=merchant, public_id=public_id)
    except ListEntry.DoesNotExist as exc:
        # The id is not echoed: it is whatever the caller typed into the path.
        raise NotFoundError("No such list entry.", param="id") from exc


def list_entry_find(*, merchant: Merchant | None, kind: str, action: str, value: str) -> ListEntry | None:
    """The entry of this scope (a merchant's, or deployment-wide for None) with this normalised value."""
    return ListEntry.objects.filter(merchant=merchant, kind=kind, action=action, value=value).first()
