"""Stripe's list and search pagination: newest first, `limit` 1-100 (default 10), cursors
`starting_after` / `ending_before` (object ids), and search's opaque `page` token."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from . import params as check
from .errors import StripeError, resource_missing
from .objects import list_object, search_result

ModelT = TypeVar("ModelT", bound=Model)
LIST_PARAMS = ("limit", "starting_after", "ending_before")


def _limit(params: check.Params) -> int:
    limit = check.integer(params, "limit")
    if limit is None:
        return 10
    if not 1 <= limit <= 100:
        raise StripeError("Invalid limit: must be between 1 and 100", param="limit")
    return limit


def page(
    queryset: QuerySet[ModelT],
    params: check.Params,
    *,
    url: str,
    kind: str,
    render: Callable[[ModelT], dict[str, Any]],
) -> dict[str, Any]:
    limit = _limit(params)
    after = check.string(params, "starting_after")
    before = check.string(params, "ending_before")
    if after and before:
        raise StripeError(
            "You may only specify one of these parameters: ending_before, starting_after.", param="ending_before"
        )
    if before:
        anchor = _anchor(queryset, before, kind, "ending_before")
        rows = list(queryset.filter(pk__gt=anchor).order_by("pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit][::-1]
    else:
        ordered = queryset.order_by("-pk")
        if after:
            ordered = ordered.filter(pk__lt=_anchor(queryset, after, kind, "starting_after"))
        rows = list(ordered[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    return list_object((render(row) for row in rows), url=url, has_more=has_more)


def _anchor(queryset: QuerySet[Any], object_id: str, kind: str, param: str) -> int:
    pk = queryset.model._default_manager.filter(stripe_id=object_id).values_list("pk", flat=True).first()
    if pk is None:
        raise resource_missing(kind, object_id, param=param)
    return int(pk)


def search_page(
    queryset: QuerySet[ModelT],
    condition: Q,
    params: check.Params,
    *,
    url: str,
    render: Callable[[ModelT], dict[str, Any]],
) -> dict[str, Any]:
    limit = _limit(params)
    offset = _offset(check.string(params, "page"))
    rows = list(queryset.filter(condition).order_by("-pk")[offset : offset + limit + 1])
    next_page = _token(offset + limit) if len(rows) > limit else None
    return search_result((render(row) for row in rows[:limit]), url=url, next_page=next_page)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise StripeError("Invalid page: the page token is not valid.", param="page")
