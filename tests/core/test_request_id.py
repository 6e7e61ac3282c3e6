from __future__ import annotations

import json
import logging

import pytest
import structlog
from celery import shared_task

from apps.core.context import RequestContext, current_request_id, request_context

pytestmark = pytest.mark.django_db

seen_in_task: list[str | None] = []


@shared_task(name="tests.record_request_id")
def record_request_id() -> None:
    seen_in_task.append(current_request_id())


def test_a_valid_incoming_request_id_is_kept(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="abc-123_x.y:z")

    assert response["X-Request-ID"] == "abc-123_x.y:z"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "new\nline"])
def test_an_unusable_request_id_is_replaced(client, bad):
    response = client.get("/health/live", HTTP_X_REQUEST_ID=bad)

    assert response["X-Request-ID"].startswith("req_")
    assert response["X-Request-ID"] != bad


def test_every_response_carries_a_generated_id_when_none_is_sent(client, api):
    ids = {client.get("/health/live")["X-Request-ID"], api.get("/api/v1/nope")["X-Request-ID"]}

    assert len(ids) == 2
    assert all(rid.startswith("req_") for rid in ids)


def log_lines_with(settings, needle: str) -> list[dict]:
    with open(settings.LOG_FILE, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if needle in line]


def test_the_request_id_is_on_log_lines_written_during_the_request(client, settings):
    client.get("/api/v1/merchant", HTTP_X_REQUEST_ID="trace-me-1")

    lines = log_lines_with(settings, "trace-me-1")
    # Django's own "Unauthorized" line is written after the middleware returned.
    assert any(line["logger"] == "django.request" and line["request_id"] == "trace-me-1" for line in lines)


def test_structlog_and_stdlib_lines_carry_the_bound_id(settings):
    with request_context(RequestContext(request_id="ctx-42")):
        structlog.get_logger("tests").info("from_structlog")
        logging.getLogger("tests").info("from stdlib")

    lines = log_lines_with(settings, "ctx-42")
    assert {line["event"] for line in lines} >= {"from_structlog", "from stdlib"}


@pytest.mark.slow
def test_the_request_id_travels_into_celery_tasks(celery_worker):
    seen_in_task.clear()
    with request_context(RequestContext(request_id="req_from_http")):
        record_request_id.delay()
    record_request_id.delay()  # published outside any request: the task gets its own id

    import time

    deadline = time.monotonic() + 10
    while len(seen_in_task) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen_in_task[0] == "req_from_http"
    assert seen_in_task[1] is not None
    assert seen_in_task[1].startswith("task_")
