"""The HTTP transport under SDKs that call `requests.post` themselves (Authorize.Net).

The Authorize.Net SDK posts through its module's own `requests` global, with no timeout, to
an endpoint kept in a class-level global that every controller constructor resets. The
adapter swaps that global for this module, so each call instead:

- goes to the endpoint of the current call (a context variable: thread-safe, per account),
- has connect and read timeouts,
- carries our correlation id (`X-Request-ID`),
- reuses pooled keep-alive connections (one Session per thread),
- and records how it failed: the SDK swallows exceptions, so the adapter reads them here to
  tell "never sent" (retryable) from "sent, answer lost" (outcome unknown).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from apps.core.context import current_request_id


@dataclass
class CallState:
    endpoint: str
    timeout: float
    connect_timeout: float
    error: BaseException | None = None
    status: int | None = None
    elapsed_ms: float = 0.0


_current: ContextVar[CallState | None] = ContextVar("gateway_http_call", default=None)
_local = threading.local()


class NoGatewayCallContext(RuntimeError):
    pass


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


@contextmanager
def gateway_call(*, endpoint: str, timeout: float, connect_timeout: float = 5.0) -> Iterator[CallState]:
    state = CallState(endpoint=endpoint, timeout=timeout, connect_timeout=min(connect_timeout, timeout))
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


def post(url: str, data: Any = None, headers: dict[str, str] | None = None, **_: Any) -> requests.Response:
    """Stands in for `requests.post` inside the SDK; the SDK's URL is ignored on purpose."""
    state = _current.get()
    if state is None:
        # Never let an SDK call escape to the endpoint baked into the SDK.
        raise NoGatewayCallContext("gateway SDK called outside gateway_call()")
    sent_headers = dict(headers or {})
    request_id = current_request_id()
    if request_id:
        sent_headers["X-Request-ID"] = request_id
    started = time.perf_counter()
    try:
        response = _session().post(
            state.endpoint, data=data, headers=sent_headers, timeout=(state.connect_timeout, state.timeout)
        )
    except BaseException as exc:
        state.error = exc
        raise
    finally:
        state.elapsed_ms = (time.perf_counter() - started) * 1000
    state.status = response.status_code
    return response


def never_sent(error: BaseException) -> bool:
    """True when the request certainly did not reach the server (refused, unresolvable, connect timeout)."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError | requests.exceptions.ConnectTimeout):
            return True
        if isinstance(current, BaseException):
            stack.extend(
                [current.__cause__, current.__context__, *[a for a in current.args if isinstance(a, BaseException)]]
            )
            reason = getattr(current, "reason", None)
            if isinstance(reason, BaseException):
                stack.append(reason)
    return False
