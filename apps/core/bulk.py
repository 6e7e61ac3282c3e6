"""Bulk writes faster than Django's bulk_update, for batch work (billing runs).

Django's bulk_update writes one CASE WHEN per field over every row; on PostgreSQL one
UPDATE … FROM (VALUES …) does the same work in a fraction of the time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def update_rows(model: type[models.Model], objects: Sequence[Any], fields: Sequence[str]) -> None:
    """Save `fields` of each object (each row its own values) in one statement."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, list(fields))
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None  # noqa: S101 - every model here has one
    columns: list[Any] = [pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{column.db_type(connection)}" for column in columns) + ")"
    params: list[Any] = []
    for obj in objects:
        params.extend(column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns)
    names = ", ".join(quote(column.column) for column in columns)
    assignments = ", ".join(f"{quote(column.column)} = v.{quote(column.column)}" for column in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - our own model's names
        f"FROM (VALUES {', '.join([row] * len(objects))}) AS v({names}) "
        f"WHERE t.{quote(str(pk.column))} = v.{quote(str(pk.column))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
