"""Reads of the risk rules and lists."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet, Sum

from apps.core.errors import NotFoundError

from .lists import ip_networks_containing, network_prefix
from .models import ListEntry, ListKind, Rule

if TYPE_CHECKING:  # tenancy is named, not imported
    from apps.merchants.models import Merchant


# The enabled rules as this process last read them, under the stamp of the rule table they were
# read at. Every change to a rule raises its version and its updated_at (apps.risk.services), a
# new rule raises the count and the largest id, a deletion lowers the count: any change makes a
# new stamp (and so does turning rules on or off, even by a bulk update). Reading the stamp is
# one aggregate row, not every rule. With the Redis stamp a payment read in its velocity round
# trip (apps.risk.stamps) not even that: the copy read under it is used as it is.
_enabled: tuple[tuple[Any, ...], list[Rule]] | None = None
_enabled_by_stamp: tuple[str, float, list[Rule]] | None = None


def _fresh(loaded_at: float) -> bool:
    return time.monotonic() - loaded_at < settings.RISK_CACHE_REFRESH_SECONDS


def rules_enabled(*, stamp: str | None = None) -> list[Rule]:
    """The rules an assessment evaluates, in a stable order (by name). Shared by the process:
    read them, never change them. `stamp`: the rules' stamp in Redis (apps.risk.stamps)."""
    global _enabled, _enabled_by_stamp  # noqa: PLW0603 - per-process caches, replaced whole
    if stamp is not None:
        by_stamp = _enabled_by_stamp
        if by_stamp is not None and by_stamp[0] == stamp and _fresh(by_stamp[1]):
            return by_stamp[2]
        loaded_at = time.monotonic()
        rules = list(Rule.objects.filter(enabled=True).order_by("name", "pk"))
        _enabled_by_stamp = (stamp, loaded_at, rules)
        return rules
    figures = Rule.objects.aggregate(
        count=Count("pk"),
        enabled=Count("pk", filter=Q(enabled=True)),
        versions=Sum("version"),
        last=Max("pk"),
        changed=Max("updated_at"),
    )
    stamp_figures = tuple(figures[name] for name in ("count", "enabled", "versions", "last", "changed"))
    cached = _enabled
    if cached is not None and cached[0] == stamp_figures:
        return cached[1]
    rules = list(Rule.objects.filter(enabled=True).order_by("name", "pk"))
    _enabled = (stamp_figures, rules)
    return rules


@dataclass(frozen=True)
class _ListCopy:
    """Every list entry unexpired when read, by (kind, value); None when there were more than
    RISK_LIST_CACHE_MAX_ENTRIES (the database is asked instead)."""

    stamp: str
    loaded_at: float
    entries: dict[tuple[str, str], list[ListEntry]] | None
    ip_prefixes: frozenset[int] = frozenset()  # the prefix lengths of the IP entries


_lists: _ListCopy | None = None


def _list_copy(stamp: str, now: datetime) -> _ListCopy:
    global _lists  # noqa: PLW0603 - a per-process cache, replaced whole
    copy = _lists
    if copy is not None and copy.stamp == stamp and _fresh(copy.loaded_at):
        return copy
    loaded_at = time.monotonic()
    limit = settings.RISK_LIST_CACHE_MAX_ENTRIES
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    rows = list(ListEntry.objects.filter(unexpired).order_by("action", "kind", "value", "pk")[: limit + 1])
    entries: dict[tuple[str, str], list[ListEntry]] | None = None
    if len(rows) <= limit:
        entries = {}
        for row in rows:
            entries.setdefault((row.kind, row.value), []).append(row)
    prefixes = frozenset(network_prefix(value) for kind, value in entries or () if kind == ListKind.IP)
    copy = _ListCopy(stamp, loaded_at, entries, prefixes)
    _lists = copy
    return copy


def list_entries_matching(
    *, candidates: dict[str, list[str]], now: datetime, merchant_id: int | None = None, stamp: str | None = None
) -> list[ListEntry]:
    """The unexpired list entries whose value is one of the candidates of their kind
    (apps.risk.lists.list_candidates; an IP candidate is an address, which matches the networks
    containing it), allow entries first: the deployment-wide entries, and those of the merchant
    `merchant_id` (none of any merchant's when it is None). `stamp`: the lists' stamp in Redis
    (apps.risk.stamps): this process's copy of the lists is used."""
    if not candidates:
        return []
    if stamp is not None and (copy := _list_copy(stamp, now)).entries is not None:
        candidates = _ip_networks(candidates, copy.ip_prefixes)
        found = [
            entry
            for kind, values in candidates.items()
            for value in values
            for entry in copy.entries.get((kind, value), ())
            if (entry.expires_at is None or entry.expires_at > now)
            and (entry.merchant_id is None or entry.merchant_id == merchant_id)
        ]
        return sorted(found, key=lambda entry: (entry.action, entry.kind, entry.value, entry.pk))
    candidates = _ip_networks(candidates, None)
    match = Q()
    for kind, values in candidates.items():
        match |= Q(kind=kind, value__in=values)
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    scope = Q(merchant__isnull=True)
    if merchant_id is not None:
        scope |= Q(merchant_id=merchant_id)
    # "allow" < "block": allow entries come first, then by kind and value for a stable order.
    return list(ListEntry.objects.filter(match, unexpired, scope).order_by("action", "kind", "value", "pk"))


def _ip_networks(candidates: dict[str, list[str]], prefixes: frozenset[int] | None) -> dict[str, list[str]]:
    """`candidates` with the IP addresses replaced by the networks containing them (of the prefix
    lengths `prefixes` only, when given)."""
    if ListKind.IP not in candidates:
        return candidates
    networks = [network for address in candidates[ListKind.IP] for network in ip_networks_containing(address, prefixes)]
    return {**candidates, ListKind.IP: networks}


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
