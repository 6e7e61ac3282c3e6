"""An admin paginator that never counts a big table.

Django's changelist counts the (filtered) queryset for its page links; on a table of millions
that COUNT(*) is the slowest query on the page. This paginator uses PostgreSQL's row estimate
when the queryset is unfiltered, and otherwise counts at most CAP rows.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

CAP = 10_000


class FastCountPaginator(Paginator[Any]):
    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        connection = connections[queryset.db]
        if not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
                )
                row = cursor.fetchone()
            estimate = int(row[0]) if row and row[0] is not None else -1
            if estimate >= CAP:
                return estimate
        return int(queryset.order_by()[: CAP + 1].count())
