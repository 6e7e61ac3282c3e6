"""GET /metrics for Celery hosts, where no web process serves it: with WORKER_METRICS_PORT set, the
worker's main process (`worker_init`, never a prefork child) and beat (`beat_init`) serve, from a
thread, their host's metrics on WORKER_METRICS_ADDRESS:WORKER_METRICS_PORT, under the web view's
access rule (apps.core.metrics). With PROMETHEUS_MULTIPROC_DIR set that is every process writing to
the directory, the prefork children that run the tasks among them; without it only the serving
process's own (enough for the solo pool and for beat)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from celery import signals
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import MetricsHandler
from prometheus_client.multiprocess import MultiProcessCollector

from .metrics import metrics_access_allowed_for


def metrics_registry() -> CollectorRegistry:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry


def peer_ip(host: str) -> str:
    """The socket's peer as METRICS_ALLOWED_IPS compares it: an IPv4 client of a dual-stack socket
    arrives as ::ffff:a.b.c.d. No proxy stands in front of this port, so X-Forwarded-For is ignored."""
    address = ipaddress.ip_address(host)
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).compressed


class _AccessControlledHandler(MetricsHandler):
    def do_GET(self) -> None:  # noqa: N802  # http.server calls it by this name
        allowed = metrics_access_allowed_for(
            authorization=self.headers.get("Authorization", ""), ip=peer_ip(str(self.client_address[0]))
        )
        if urlsplit(self.path).path != "/metrics" or not allowed:
            # Not found rather than forbidden, as on the web: do not advertise the endpoint.
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def worker_metrics_serve(*, address: str, port: int) -> ThreadingHTTPServer:
    """Serve until the process ends (or `shutdown()`); raises OSError if the port is taken."""
    server_class = _IPv6Server if ":" in address else _Server
    server = server_class((address, port), _AccessControlledHandler.factory(metrics_registry()))
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server


class _Serving:
    server: ThreadingHTTPServer | None = None


def on_celery_process_start(**_: Any) -> None:
    """Once per process: beat embedded in a worker (`-B`) finds the worker's server running."""
    if settings.WORKER_METRICS_PORT is None or _Serving.server is not None:
        return
    server = worker_metrics_serve(address=settings.WORKER_METRICS_ADDRESS, port=settings.WORKER_METRICS_PORT)
    _Serving.server = server
    # Children forked later (prefork pool) must not keep the listening socket open.
    os.register_at_fork(after_in_child=server.socket.close)


def connect() -> None:
    signals.worker_init.connect(on_celery_process_start, weak=False, dispatch_uid="ch_worker_metrics")
    signals.beat_init.connect(on_celery_process_start, weak=False, dispatch_uid="ch_beat_metrics")
