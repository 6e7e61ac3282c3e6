"""Our PostgreSQL backend (apps.core.postgresql) counts statements, their durations and errors in
django-prometheus's metrics, which the alerts and the dashboard read, with the cursor class built
once per alias instead of on every connect."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from prometheus_client import REGISTRY

from apps.core.postgresql.base import counting_cursor_class

pytestmark = pytest.mark.django_db

LABELS = {"alias": "default", "vendor": "postgresql"}


def sample(name: str, **extra: str) -> float:
    return REGISTRY.get_sample_value(name, {**LABELS, **extra}) or 0.0


def test_the_settings_use_it_on_postgresql():
    assert connection.settings_dict["ENGINE"] == "apps.core.postgresql"


def test_each_statement_is_counted_and_timed():
    before = sample("django_db_execute_total"), sample("django_db_query_duration_seconds_count")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT %s", [2])
        assert cursor.fetchone() == (2,)
    assert sample("django_db_execute_total") - before[0] == 2
    assert sample("django_db_query_duration_seconds_count") - before[1] == 2


def test_executemany_counts_each_parameter_set():
    before = sample("django_db_execute_total"), sample("django_db_execute_many_total")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE counted (n int)")
        cursor.executemany("INSERT INTO counted VALUES (%s)", ([n] for n in range(3)))
        cursor.execute("SELECT count(*) FROM counted")
        assert cursor.fetchone() == (3,)
    assert sample("django_db_execute_total") - before[0] == 5  # create, 3 inserts, select
    assert sample("django_db_execute_many_total") - before[1] == 3


def test_a_failing_statement_is_counted_by_its_error_and_still_raises():
    before = sample("django_db_errors_total", type="UndefinedTable")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert sample("django_db_errors_total", type="UndefinedTable") - before == 1


@pytest.mark.django_db(transaction=True)
def test_the_cursor_class_is_built_once_and_reused_across_connects():
    with connection.cursor():
        first = connection.connection.cursor_factory
    connection.close()
    with connection.cursor():
        again = connection.connection.cursor_factory
    assert first is again
    assert first is counting_cursor_class(first.__mro__[1], "default", "postgresql")
