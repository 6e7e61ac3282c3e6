"""What the real-fault tests do: inject a fault while the gateway holds its answer, then retry
as a client would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from apps.api.models import IdempotencyRecord
from apps.sandbox.models import SandboxCall
from tests.faultlab import AppServer, InBackground, RedisServer, wait_until

FAULTS = ["broker", "database", "kill"]


def gateway_calls(operation: str, gateway: str = "authorizenet") -> int:
    return SandboxCall.objects.filter(gateway=gateway, operation=operation).count()


def inject(fault: str, app_server: AppServer, app_redis: RedisServer) -> None:
    if fault == "broker":
        app_redis.stop()
    elif fault == "database":
        assert app_server.terminate_db_connections() >= 1, "the request held no database connection"
    else:
        assert app_server.kill_workers() >= 1


def send_under_fault(
    send: Any,
    *,
    operation: str,
    fault: str,
    app_server: AppServer,
    app_redis: RedisServer,
    gateway: str = "authorizenet",
    done: Callable[[], bool] | None = None,
) -> Any:
    """Send once; as soon as the gateway has done the work (its answer held back), inject the fault.
    The work is seen in the sandbox's record of money movements, or by `done` (for the calls it does
    not record: ARB schedules). Returns the response, or the exception the client met."""
    before = gateway_calls(operation, gateway)
    job = InBackground(send)
    did = done or (lambda: gateway_calls(operation, gateway) > before)
    # The request's end is looked at first: a `did` that raises (no row yet) is retried by wait_until.
    wait_until(lambda: job.finished or did(), timeout=30, what=f"the {operation} call")
    if not did():  # answered before the gateway did the work: say how
        answer = job.result()
        raise AssertionError(
            f"the {operation} call not reached; the request ended with {getattr(answer, 'text', answer)}"
        )
    inject(fault, app_server, app_redis)
    first = job.result()
    if fault == "broker":
        time.sleep(0.5)
        app_redis.start()
    return first


def retry_until_final(send: Any, timeout: float = 60) -> requests.Response:
    """What a client does: retry with the same key while the answer is not final."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = send()
        except requests.ConnectionError:
            response = None
        final = response is not None and response.status_code < 500 and response.status_code not in {202, 409}
        if final or time.monotonic() > deadline:
            assert response is not None, "no answer before the deadline"
            return response
        time.sleep(0.5)


def assert_key_completed(key: str) -> None:
    record = IdempotencyRecord.objects.get(key=key)
    assert (record.state, record.response_status is not None) == ("completed", True)
