from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ApplicationError

MAX_LIMIT = 100
# Every list's query parameters for paging, as documented in the OpenAPI schema.
PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, description="1 to 100 (default 25)"
    ),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The cursor in a list's `next` or `previous` link"),
]


class InvalidListParameter(ApplicationError):
    code = "parameter_invalid"


class IdCursorPagination(CursorPagination):
    """Cursor pagination, newest first: stable under inserts and O(limit) at any depth.

    `limit` is 1 to 100 (400 outside, as a cursor that is not one of ours)."""

    ordering = "-id"
    page_size = 25
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT

    def get_page_size(self, request: Request) -> int:
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        if not given.isascii() or not given.isdigit() or not 1 <= int(given) <= MAX_LIMIT:
            raise InvalidListParameter(f"limit must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
        return int(given)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            # Our cursors only ever hold an id: anything else was not made here.
            position = None if cursor is None or cursor.position is None else str(cursor.position)
            valid = position is None or (position.isascii() and position.isdigit() and len(position) <= 19)
            # What decodes to nothing at all (base64 drops what is not in its alphabet) is no cursor of ours.
            valid = valid and (cursor is None or position is not None or bool(cursor.offset) or cursor.reverse)
        if not valid:
            raise InvalidListParameter("cursor is not a cursor this API gave out.", param="cursor")
        return cursor

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "object": "list",
                "data": data,
                "has_more": self.has_next,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return list_object_schema(schema)


def list_object_schema(items: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema of a list object whose `data` is `items`."""
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "next", "previous"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": items,
            "has_more": {"type": "boolean"},
            "next": {"type": "string", "nullable": True, "description": "The next page's URL, if any"},
            "previous": {"type": "string", "nullable": True, "description": "The previous page's URL, if any"},
        },
    }
