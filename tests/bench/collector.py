"""A stand-in for an OpenTelemetry collector: it accepts OTLP/HTTP trace exports (protobuf, as the
SDK's exporter sends them), counts the spans and answers success, so the cost of tracing can be
measured with its export included and without a collector installed."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_ANSWER = ExportTraceServiceResponse().SerializeToString()


class Collector:
    """Listening on 127.0.0.1:`port` from `start` until `stop`; `spans` and `exports` so far."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.spans = 0
        self.exports = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    collector._count(refused=1)
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest.FromString(body)
                spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
                collector._count(spans=spans, exports=1)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(_ANSWER)))
                self.end_headers()
                self.wfile.write(_ANSWER)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="otlp-collector", daemon=True).start()
        return self

    def _count(self, *, spans: int = 0, exports: int = 0, refused: int = 0) -> None:
        with self._lock:
            self.spans += spans
            self.exports += exports
            self.refused += refused

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
