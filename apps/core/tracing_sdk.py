"""The half of tracing that needs the OpenTelemetry SDK and the instrumentations: imported by
`apps.core.tracing.tracing_start` only when tracing is on, so a process without it never loads them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

# Probes and scrapes: frequent, and nothing to see in them.
UNTRACED_URLS = "/health/,/metrics"


class Switchable(SpanProcessor):
    """A span processor that shutting down turns off: what was instrumented while tracing ran and
    outlives `tracing_stop` (a request handler or a database connection made then) ends its spans
    into nothing, quietly, instead of into a processor that warns about each."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner, self.on = inner, True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.on:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)

    def shutdown(self) -> None:
        self.on = False
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Tracing:
    provider: TracerProvider
    tracer: trace.Tracer
    instrumentors: list[Any]

    def stop(self) -> None:
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()  # exports what is buffered first


def tracing_build(*, role: str, exporter: SpanExporter | None) -> Tracing:
    """A provider exporting over OTLP/HTTP in batches (or to `exporter` span by span), and the
    instrumentations of Django, Celery, psycopg and requests reporting to it."""
    name = settings.TRACING_SERVICE_NAME
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (deployment.environment.name=..., ...).
    resource = Resource.create(
        {
            "service.name": f"{name}-{role}",
            "service.namespace": name,
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.TRACING_SAMPLE_RATIO)))
    processor: SpanProcessor
    if exporter is None:
        # Without an address the exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or uses localhost:4318.
        base = settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/")
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None))
    else:
        processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(Switchable(processor))
    # Metrics stay with Prometheus (/metrics): the instrumentations get a meter that records nothing.
    options = {"tracer_provider": provider, "meter_provider": NoOpMeterProvider()}
    django, celery, psycopg, requests = (
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        PsycopgInstrumentor(),
        RequestsInstrumentor(),
    )
    django.instrument(**options, excluded_urls=UNTRACED_URLS, response_hook=_tag_request_id)
    celery.instrument(**options)
    psycopg.instrument(**options)
    requests.instrument(**options)
    return Tracing(provider, provider.get_tracer("clearhouse"), [django, celery, psycopg, requests])


def _tag_request_id(span: trace.Span, request: HttpRequest, _response: HttpResponse) -> None:
    """The server span carries our correlation id, so a trace is found from a log line or a response."""
    request_id = getattr(request, "request_id", None)
    if request_id and span.is_recording():
        span.set_attribute("clearhouse.request_id", request_id)
