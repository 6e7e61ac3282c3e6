"""PostgreSQL parses and plans a statement the hot path repeats once per connection: parameters are
bound on the server and psycopg prepares a statement after DB_PREPARE_THRESHOLD runs of it; the
switch that turns this off (a pooler that does not track prepared statements) really does."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.merchants.models import Merchant
from config.settings.base import database_config
from tests.merchants.factories import MerchantFactory

URL = "postgres://postgres@127.0.0.1:5432/clearhouse"


def _prepared(fragment: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE from_sql = false")
        return [row[0] for row in cursor.fetchall() if fragment in row[0]]


@pytest.mark.django_db
def test_a_repeated_orm_query_is_prepared_on_its_connection():
    merchant = MerchantFactory()
    for _ in range(3):
        assert Merchant.objects.filter(slug=merchant.slug).values_list("pk", flat=True).get() == merchant.pk

    statements = _prepared('FROM "merchants_merchant"')
    assert statements, "the query ran three times and was never prepared"
    assert "$1" in statements[0]  # bound on the server: the slug is a parameter, not text


@pytest.mark.django_db
def test_a_query_run_once_is_not_prepared():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::int + 41 AS run_once", [1])
        assert cursor.fetchone() == (42,)
    assert not _prepared("run_once")


def test_the_settings_bind_on_the_server_and_prepare_by_default(monkeypatch):
    monkeypatch.delenv("DB_SERVER_SIDE_BINDING", raising=False)
    monkeypatch.delenv("DB_PREPARE_THRESHOLD", raising=False)
    options = database_config(URL)["OPTIONS"]
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 2


def test_binding_on_the_server_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("DB_SERVER_SIDE_BINDING", "false")
    options = database_config(URL)["OPTIONS"]
    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options  # Django's default then: never prepare


def test_sqlite_is_untouched():
    assert "server_side_binding" not in database_config("sqlite:///var/x.sqlite3")["OPTIONS"]
