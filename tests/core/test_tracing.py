"""Tracing (apps/core/tracing.py): off, nothing is loaded or patched; on, an API request is one trace
from its server span through SQL, the gateway's HTTP call and the outbox's Celery tasks to the
merchant's webhook delivery; stored work picked up by a sweeper rejoins the trace that stored it;
log lines carry the trace id; and the OTLP exporter really posts to a collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.conf import settings as django_settings
from django.db import connections, transaction
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from apps.audit.actors import Actor
from apps.core.tracing import (
    continued_span,
    current_trace_ids,
    current_traceparent,
    tracing_active,
    tracing_start,
    tracing_stop,
)
from apps.events.deliveries import webhook_delivery_attempt
from apps.events.endpoints import webhook_endpoint_create
from apps.events.models import Event, WebhookDelivery
from apps.events.services import event_publish, event_relay
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.helpers import wait_for
from tests.payments.helpers import VISA, purchase
from tests.webhooks.helpers import anet_body, post_anet

ROOT = Path(__file__).resolve().parents[2]
RELAY_TASK = "apps.events.tasks.event_relay"
TRACING_PACKAGES = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation", "opentelemetry.exporter")


class Collector:
    """A local HTTP server: records each request (path, headers, body) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                collector.requests.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.server.shutdown()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, in test mode: every span ends up in memory as it ends."""
    exporter = InMemorySpanExporter()
    assert tracing_start(role="test", exporter=exporter, set_global=False)
    yield exporter
    tracing_stop()


@pytest.fixture
def traced_connections(transactional_db: Any) -> Iterator[None]:
    """Connections made after tracing started go through the instrumented psycopg.connect."""
    connections.close_all()
    yield
    connections.close_all()


def of_trace(finished: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [span for span in finished if span.context is not None and span.context.trace_id == trace_id]


def server_span_of(finished: tuple[ReadableSpan, ...], request_id: str) -> ReadableSpan:
    (span,) = [
        s for s in finished if s.kind == SpanKind.SERVER and s.attributes.get("clearhouse.request_id") == request_id
    ]  # type: ignore[union-attr]
    return span


def url_of(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


# --- off ------------------------------------------------------------------------------------------


def test_with_tracing_off_nothing_is_loaded_patched_or_started():
    """A fresh process, as gunicorn's post_fork runs it: no tracer provider, no instrumentation or
    exporter loaded, nothing patched. (redis-py loads the SDK's metrics package by itself.)"""
    probe = (
        "import sys, django; django.setup()\n"
        "import psycopg, requests\n"
        "from django.conf import settings\n"
        "from opentelemetry import trace\n"
        "from apps.core.tracing import current_traceparent, tracing_start\n"
        "started = tracing_start(role='web')\n"
        "print(json.dumps({'started': started, 'provider': type(trace.get_tracer_provider()).__name__,\n"
        "  'sdk': sorted(m for m in sys.modules if m.startswith(TRACING_PACKAGES)),\n"
        "  'middleware': [m for m in settings.MIDDLEWARE if 'opentelemetry' in str(m)],\n"
        "  'patched': [f.__qualname__ for f in (psycopg.connect, requests.Session.send) if hasattr(f, '__wrapped__')],\n"
        "  'traceparent': current_traceparent()}))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TRACING_", "PYTEST"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DJANGO_READ_DOT_ENV_FILE="false")

    result = subprocess.run(
        [sys.executable, "-c", f"import json\nTRACING_PACKAGES = {TRACING_PACKAGES!r}\n{probe}"],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "started": False,
        "provider": "ProxyTracerProvider",
        "sdk": [],
        "middleware": [],
        "patched": [],
        "traceparent": "",
    }


def test_with_tracing_off_the_helpers_do_nothing(settings):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT, settings.TRACING_ENABLED = "", False

    assert tracing_start(role="web") is False
    assert not tracing_active()
    assert not any("opentelemetry" in str(entry) for entry in django_settings.MIDDLEWARE)
    assert (current_traceparent(), current_trace_ids()) == ("", ("", ""))
    with continued_span("x", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01", attributes={}):
        assert current_trace_ids() == ("", "")


# --- a request is one trace ------------------------------------------------------------------------


def test_a_payment_is_one_trace_from_the_api_through_the_gateway_and_the_outbox_to_the_delivery(
    spans, traced_connections, api, merchant, anet_account, celery_worker, collector
):
    webhook_endpoint_create(merchant=merchant, url=f"{collector.url}/hooks", event_types=["*"], actor=Actor.system("t"))
    spans.clear()

    response = purchase(api)
    wait_for(lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).exists())

    assert response.status_code == 201, response.content
    finished = spans.get_finished_spans()
    server = server_span_of(finished, response["X-Request-ID"])
    assert server.context is not None
    in_trace = of_trace(finished, server.context.trace_id)
    names = [span.name for span in in_trace]
    sql = [s for s in in_trace if (s.attributes or {}).get("db.system") == "postgresql"]
    gateway = [s for s in in_trace if s.kind == SpanKind.CLIENT and "/sandbox/authorizenet/" in url_of(s)]
    relay_sent = [s for s in in_trace if s.kind == SpanKind.PRODUCER and s.name == f"apply_async/{RELAY_TASK}"]
    relay_run = [s for s in in_trace if s.kind == SpanKind.CONSUMER and s.name == f"run/{RELAY_TASK}"]
    delivery_post = [s for s in in_trace if s.kind == SpanKind.CLIENT and url_of(s) == f"{collector.url}/hooks"]
    event = Event.objects.get()
    assert server.name == "POST api/v1/payments"
    assert len(sql) > 5
    assert len(gateway) == 1, names
    assert (
        gateway[0].attributes[
            "http.request.method" if "http.request.method" in gateway[0].attributes else "http.method"
        ]
        == "POST"
    )  # type: ignore[index, operator]
    assert len(relay_sent) == len(relay_run) == 1, names
    assert relay_run[0].parent is not None and relay_run[0].parent.span_id == relay_sent[0].context.span_id  # type: ignore[union-attr]
    assert {"event.relay", "webhook_delivery.attempt"} <= set(names)
    assert len(delivery_post) == 1
    # The event row holds the publishing span; the merchant's endpoint received the trace's context.
    assert event.traceparent.split("-")[1] == format(server.context.trace_id, "032x")
    (hook,) = collector.requests
    assert hook["headers"]["traceparent"].split("-")[1] == format(server.context.trace_id, "032x")


def test_a_log_line_written_during_a_request_carries_its_trace_id_beside_the_request_id(spans, api, anet_account):
    declined = {**VISA, "billing_details": {"postal_code": "46282"}}

    response = purchase(api, payment_method=declined)

    assert response.status_code == 402
    server = server_span_of(spans.get_finished_spans(), response["X-Request-ID"])
    lines = [json.loads(line) for line in Path(django_settings.LOG_FILE).read_text().splitlines()]
    (line,) = [
        entry
        for entry in lines
        if entry.get("event") == "gateway_call_failed" and entry.get("request_id") == response["X-Request-ID"]
    ]
    assert server.context is not None
    assert line["trace_id"] == format(server.context.trace_id, "032x")
    assert len(line["span_id"]) == 16


def test_djangos_own_response_line_written_after_the_server_span_ended_carries_the_trace_id(spans, client, db):
    response = client.get("/api/v1/payments")  # no API key: 401, logged by Django after the middleware

    assert response.status_code == 401
    server = server_span_of(spans.get_finished_spans(), response["X-Request-ID"])
    lines = [json.loads(line) for line in Path(django_settings.LOG_FILE).read_text().splitlines()]
    (line,) = [entry for entry in lines if entry.get("request_id") == response["X-Request-ID"]]
    assert line["logger"] == "django.request"
    assert server.context is not None
    assert (line["trace_id"], line["span_id"]) == (
        format(server.context.trace_id, "032x"),
        format(server.context.span_id, "016x"),
    )


def test_log_lines_have_empty_trace_fields_outside_a_span():
    import logging

    logging.getLogger("tests.tracing").warning("no_span_here")

    lines = [json.loads(line) for line in Path(django_settings.LOG_FILE).read_text().splitlines()]
    line = next(entry for entry in reversed(lines) if entry.get("event") == "no_span_here")
    assert (line["trace_id"], line["span_id"]) == ("", "")


# --- stored work rejoins the trace that stored it --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_event_relayed_by_a_sweeper_rejoins_the_publishing_trace_and_links_the_sweeper(
    spans, merchant, sent_tasks, collector
):
    webhook_endpoint_create(merchant=merchant, url=f"{collector.url}/hooks", event_types=["*"], actor=Actor.system("t"))
    elsewhere = TracerProvider().get_tracer("tests")
    with elsewhere.start_as_current_span("publisher") as publisher, transaction.atomic():
        event = event_publish(
            merchant_id=merchant.pk, livemode=False, type="payment.captured", object_type="payment",
            object_id="pay_1", data={"id": "pay_1"},
        )  # fmt: skip
    # The relay task was "lost" (recorded by sent_tasks, never run); a sweeper's task relays it.
    with elsewhere.start_as_current_span("sweeper") as sweeper:
        (delivery_id,) = event_relay(event_id=event.pk)
    with elsewhere.start_as_current_span("another sweeper") as later:
        webhook_delivery_attempt(delivery_id=delivery_id)

    finished = {span.name: span for span in spans.get_finished_spans()}
    relay, attempt = finished["event.relay"], finished["webhook_delivery.attempt"]
    published = publisher.get_span_context()
    for span, picked_up_by in ((relay, sweeper), (attempt, later)):
        assert span.context is not None and span.context.trace_id == published.trace_id
        assert span.parent is not None and span.parent.span_id == published.span_id
        assert [link.context.span_id for link in span.links] == [picked_up_by.get_span_context().span_id]
    assert Event.objects.get().traceparent.startswith(f"00-{published.trace_id:032x}-{published.span_id:016x}-")
    assert finished["POST"].parent.span_id == attempt.context.span_id  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_stored_work_picked_up_in_its_own_trace_stays_a_plain_child(spans, merchant, sent_tasks, collector):
    webhook_endpoint_create(merchant=merchant, url=f"{collector.url}/hooks", event_types=["*"], actor=Actor.system("t"))
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("request") as request:
        with transaction.atomic():
            event = event_publish(
                merchant_id=merchant.pk, livemode=False, type="payment.captured", object_type="payment",
                object_id="pay_1", data={"id": "pay_1"},
            )  # fmt: skip
        with tracer.start_as_current_span("run/relay") as task:
            event_relay(event_id=event.pk)

    (relay,) = [span for span in spans.get_finished_spans() if span.name == "event.relay"]
    assert relay.parent is not None and relay.parent.span_id == task.get_span_context().span_id
    assert relay.context is not None and relay.context.trace_id == request.get_span_context().trace_id
    assert relay.links == ()


@pytest.mark.django_db(transaction=True)
def test_an_incoming_webhook_processed_later_rejoins_the_trace_of_the_request_that_stored_it(
    spans, client, anet_account, sent_tasks
):
    response = post_anet(client, anet_account, anet_body("60000000001"))
    webhook = IncomingWebhook.objects.get()
    with TracerProvider().get_tracer("tests").start_as_current_span("sweeper") as sweeper:
        incoming_webhook_process(webhook_id=webhook.pk)

    assert response.status_code == 200
    finished = spans.get_finished_spans()
    receipt = next(s for s in finished if s.kind == SpanKind.SERVER and s.name.startswith("POST webhooks/"))
    (process,) = [s for s in finished if s.name == "incoming_webhook.process"]
    assert receipt.context is not None and webhook.traceparent.split("-")[1:3] == [
        format(receipt.context.trace_id, "032x"),
        format(receipt.context.span_id, "016x"),
    ]
    assert process.context is not None and process.context.trace_id == receipt.context.trace_id
    assert [link.context.span_id for link in process.links] == [sweeper.get_span_context().span_id]


# --- the exporter ----------------------------------------------------------------------------------


def test_the_otlp_exporter_posts_protobuf_spans_to_the_collector(settings, collector):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url + "/"
    settings.TRACING_SERVICE_NAME = "clearhouse-test"
    assert tracing_start(role="web", set_global=False)
    try:
        requests.post(f"{collector.url}/ping", data=b"x", timeout=5)
    finally:
        tracing_stop()  # flushes the batch

    (export,) = [r for r in collector.requests if r["path"] == "/v1/traces"]
    assert export["headers"]["content-type"] == "application/x-protobuf"
    assert export["body"]
    sent = ExportTraceServiceRequest.FromString(export["body"])
    (resource_spans,) = sent.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert (service, names) == ("clearhouse-test-web", ["POST"])
    # The exporter's own POST is not traced (it would feed itself), and the ping carried the context.
    (ping,) = [r for r in collector.requests if r["path"] == "/ping"]
    assert ping["headers"]["traceparent"].startswith("00-")


def test_tracing_stop_removes_the_instrumentation(spans):
    assert tracing_active()
    assert hasattr(psycopg.connect, "__wrapped__")

    tracing_stop()

    assert not tracing_active()
    assert not hasattr(psycopg.connect, "__wrapped__")
    assert not hasattr(requests.Session.send, "__wrapped__")
    assert not any("opentelemetry" in str(entry) for entry in django_settings.MIDDLEWARE)
