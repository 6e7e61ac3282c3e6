"""The request context: correlation id, client address and user agent of the current work.

Set by `RequestContextMiddleware` for HTTP requests and by the Celery signal handlers for
tasks; read by the audit service, the error envelope and outbound gateway calls. The request
id is also bound into structlog's context so it appears on every log line.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog

from .cards import card_number_spans
from .tracing import current_trace_ids

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None = None
    user_agent: str = ""
    # The Django request, when there is one; lets signal handlers find the staff user.
    request: Any = None


_current: ContextVar[RequestContext | None] = ContextVar("clearhouse_request_context", default=None)


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def clean_request_id(candidate: str | None) -> str:
    """Accept a caller's id if it is short and plain and not a card number; otherwise make our own."""
    if candidate and _VALID_REQUEST_ID.match(candidate) and not card_number_spans(candidate):
        return candidate
    return new_request_id()


def current_context() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


def bind_request_context(context: RequestContext) -> None:
    """For HTTP requests: stays bound until `clear_request_context` runs on request_finished,
    so Django's own response log line (written after the middleware returned) carries the id,
    and the request's trace id when it is traced (the server span has ended by then)."""
    _current.set(context)
    trace_id, span_id = current_trace_ids()
    if trace_id:
        structlog.contextvars.bind_contextvars(request_id=context.request_id, trace_id=trace_id, span_id=span_id)
    else:
        structlog.contextvars.bind_contextvars(request_id=context.request_id)


def clear_request_context(**_: Any) -> None:
    _current.set(None)
    structlog.contextvars.unbind_contextvars("request_id", "trace_id", "span_id")


@contextmanager
def request_context(context: RequestContext) -> Iterator[RequestContext]:
    """For work outside HTTP requests (Celery tasks, commands): bound for the block only."""
    token = _current.set(context)
    with structlog.contextvars.bound_contextvars(request_id=context.request_id):
        try:
            yield context
        finally:
            _current.reset(token)
