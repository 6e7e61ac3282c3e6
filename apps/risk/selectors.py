"""Reads of the risk rules and lists."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from .models import ListEntry, Rule


def rules_enabled() -> list[Rule]:
    """The rules an assessment evaluates, in a stable order (by name)."""
    return list(Rule.objects.filter(enabled=True).order_by("name", "pk"))


def list_entries_matching(*, candidates: dict[str, list[str]], now: datetime) -> list[ListEntry]:
    """The unexpired list entries whose value is one of the candidates of their kind
    (apps.risk.lists.list_candidates), allow entries first."""
    if not candidates:
        return []
    match = Q()
    for kind, values in candidates.items():
        match |= Q(kind=kind, value__in=values)
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    # "allow" < "block": allow entries come first, then by kind and value for a stable order.
    return list(ListEntry.objects.filter(match, unexpired).order_by("action", "kind", "value"))
