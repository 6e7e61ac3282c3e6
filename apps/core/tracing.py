"""Tracing: OpenTelemetry spans of requests, tasks, SQL and outgoing HTTP, off unless configured.

Off (neither `OTEL_EXPORTER_OTLP_ENDPOINT` nor `TRACING_ENABLED` set) `tracing_start` returns at
once: neither the SDK's tracing nor an instrumentation is imported, nothing is patched, no exporter
thread runs, and the helpers below read the API's empty context only. On, each process calls it
once, after any fork (the batch processor's thread and the exporter's connections belong to the
process that made them): a gunicorn worker from `post_fork` (gunicorn.conf.py), a Celery pool
process from `worker_process_init` (prefork children, or the solo pool's worker), and `manage.py
runserver`. It instruments Django (a server span per request, health and metrics left out), Celery
(producer and task spans, the context carried in message headers), psycopg (a span per SQL
statement; statements carry placeholders, never values) and requests (a client span per HTTP call:
every gateway SDK and the merchant webhook deliveries go through it), and exports over OTLP/HTTP to
the collector (apps.core.tracing_sdk, the half that needs the SDK).

Celery carries the context only while a task is sent from inside a span. Work that is stored and
picked up later is not always sent that way: a sweeper queues lost or overdue work again from its
own task, hours later. So the outbox's events and incoming gateway webhooks keep the W3C
traceparent of the span that stored them (`current_traceparent`, empty with tracing off) in a
column of the row, not in the task's arguments: a sweeper queues the work by id from the row, so
only the row can carry it to every run (a 55-character column with a database default, added
without rewriting the table). Their processing runs in `continued_span`: inside the task's trace
when the task came from that trace (the usual path), else as a child of the stored span with a link
to the task that picked it up. A payment's webhook deliveries, retried for days, stay in the trace
of the request that made the payment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from .tracing_sdk import Tracing

TRACEPARENT_LENGTH = 55  # "00-" + 32 hex trace id + "-" + 16 hex span id + "-" + 2 hex flags
_propagator = TraceContextTextMapPropagator()


class _Process:
    """This process's tracing, once started."""

    active: Tracing | None = None


_process = _Process()


def tracing_wanted() -> bool:
    return bool(settings.TRACING_ENABLED or settings.OTEL_EXPORTER_OTLP_ENDPOINT)


def tracing_active() -> bool:
    return _process.active is not None


def tracing_start(*, role: str, exporter: SpanExporter | None = None, set_global: bool = True) -> bool:
    """Start tracing in this process if the settings ask for it; True when it runs.

    `role` names the process (`web`, `worker`): the service is `<TRACING_SERVICE_NAME>-<role>`.
    `exporter` (tests) replaces the OTLP exporter and receives each span as it ends, whatever the
    settings say; `set_global=False` leaves OpenTelemetry's global provider alone (it can be set
    once per process, and tests start and stop tracing many times)."""
    if _process.active is not None:
        return True
    if exporter is None and not tracing_wanted():
        return False
    from .tracing_sdk import tracing_build  # noqa: PLC0415 - the SDK is loaded only when tracing is on

    _process.active = tracing_build(role=role, exporter=exporter)
    if set_global:
        trace.set_tracer_provider(_process.active.provider)
    return True


def tracing_flush() -> None:
    """Export what is buffered now (a Celery pool process about to exit)."""
    if _process.active is not None:
        _process.active.provider.force_flush()


def tracing_stop() -> None:
    """Undo `tracing_start`: remove the instrumentation, export what is buffered, stop (tests)."""
    if _process.active is not None:
        _process.active.stop()
        _process.active = None


def current_traceparent() -> str:
    """The W3C traceparent of the current span, to store beside work picked up later; "" without one."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def current_trace_ids() -> tuple[str, str]:
    """(trace id, span id) of the current span in hex, or ("", "") (tracing off, or no span)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return "", ""
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


@contextmanager
def continued_span(name: str, *, traceparent: str, attributes: Mapping[str, str | int]) -> Iterator[None]:
    """A span for stored work picked up now: in the current trace when the task came from the trace
    that stored it, else a child of the stored span linked to the current one (see the module)."""
    if _process.active is None:
        yield
        return
    current = trace.get_current_span().get_span_context()
    stored = trace.get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
    parent = None
    links: list[trace.Link] = []
    if stored.is_valid and stored.trace_id != current.trace_id:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(stored))
        links = [trace.Link(current)] if current.is_valid else []
    with _process.active.tracer.start_as_current_span(name, context=parent, links=links, attributes=dict(attributes)):
        yield
