"""Django's PostgreSQL backend with django-prometheus's query metrics, counted more cheaply.

django-prometheus's own backend builds a new cursor class on every connect (every request: a
connection is taken from the pool per request) and looks each metric's labelled child up on
every statement. Here the class is built once per cursor class, alias and vendor, with the
children bound once. The metrics and their labels are django-prometheus's: statements run
(django_db_execute_total, django_db_execute_many_total), their durations
(django_db_query_duration_seconds), errors by exception type (django_db_errors_total), and new
connections and their failures (its mixin, kept)."""

from __future__ import annotations

from functools import cache
from time import perf_counter
from typing import Any

from django.db.backends.postgresql import base as django_postgresql
from django_prometheus.db import errors_total, execute_many_total, execute_total, query_duration_seconds
from django_prometheus.db.backends.postgresql import base as prometheus_postgresql


@cache
def counting_cursor_class(cursor_class: type, alias: str, vendor: str) -> type:
    """`cursor_class` counting its statements in the metrics above (built once per arguments)."""
    executed = execute_total.labels(alias, vendor)
    executed_many = execute_many_total.labels(alias, vendor)
    duration = query_duration_seconds.labels(alias, vendor)

    class CountingCursor(cursor_class):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            executed.inc()
            started = perf_counter()
            try:
                return super().execute(*args, **kwargs)
            except BaseException as exc:  # as django-prometheus counts them: any exception's type
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise
            finally:
                duration.observe(max(perf_counter() - started, 0.0))

        def executemany(self, query: Any, params_seq: Any, *args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            try:
                params_seq = list(params_seq)  # counted first (a generator, too)
                executed.inc(len(params_seq))
                executed_many.inc(len(params_seq))
                return super().executemany(query, params_seq, *args, **kwargs)
            except BaseException as exc:  # as django-prometheus counts them: any exception's type
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise
            finally:
                duration.observe(max(perf_counter() - started, 0.0))

    return CountingCursor


class DatabaseWrapper(prometheus_postgresql.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = django_postgresql.DatabaseWrapper.get_connection_params(self)
        params["cursor_factory"] = counting_cursor_class(params["cursor_factory"], self.alias, self.vendor)
        return params
