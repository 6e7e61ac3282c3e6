"""Our own infrastructure failing under a request: the database connection cut, the broker or Redis
unreachable. Real faults in this process (a terminated backend, a closed port), no mocks."""

from __future__ import annotations

import psycopg
import pytest
from celery import Celery
from django.db import connection, transaction

from apps.audit.actors import Actor
from apps.core.db import atomic_with_reconnect, run_with_reconnect
from apps.core.metrics import TASKS_NOT_QUEUED
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.merchants.models import Merchant

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_own_connection() -> None:
    """Have PostgreSQL end this thread's connection, from another connection."""
    pid = connection.cursor().connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    ) as other:  # fmt: skip
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_work_after_a_terminated_connection_runs_again_on_a_fresh_one(merchant, settings):
    settings.DB_RECONNECT_BACKOFF_SECONDS = 0
    terminate_own_connection()
    runs: list[int] = []

    def rename() -> str:
        runs.append(1)
        Merchant.objects.filter(pk=merchant.pk).update(name="Renamed")
        return "done"

    assert atomic_with_reconnect(rename, what="test") == "done"
    assert len(runs) == 2  # the first run met the dead connection
    assert Merchant.objects.get(pk=merchant.pk).name == "Renamed"


def test_a_connection_that_stays_away_fails_after_the_attempts(merchant, settings):
    settings.DB_RECONNECT_ATTEMPTS = 1  # this connection is cut, and no attempt is left for a new one
    terminate_own_connection()

    try:
        with pytest.raises(Exception, match=r"terminating connection|closed"):
            run_with_reconnect(Merchant.objects.count, what="test")
    finally:
        connection.close()  # the test's own teardown needs a working connection


def test_inside_a_transaction_the_work_runs_once_as_part_of_it(merchant):
    with transaction.atomic():
        assert run_with_reconnect(Merchant.objects.count, what="test") == 1


# A Celery app whose broker is a closed port, and a task of it.
UNREACHABLE = Celery("unreachable", broker="redis://127.0.0.1:1/0", set_as_current=False)
UNREACHABLE.conf.broker_connection_timeout = 1


@UNREACHABLE.task(name="tests.unreachable")
def unreachable_job() -> None: ...


@pytest.fixture
def unreachable_task():
    return unreachable_job


def test_a_task_the_broker_will_not_take_is_logged_and_counted_never_raised(unreachable_task, caplog):
    counter = TASKS_NOT_QUEUED.labels(task="tests.unreachable")
    before = counter._value.get()

    assert enqueue(unreachable_task) is False

    assert counter._value.get() == before + 1
    assert "task_not_queued" in caplog.text


def test_a_committed_change_stands_when_its_task_cannot_be_queued(unreachable_task, merchant):
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_record

    counter = TASKS_NOT_QUEUED.labels(task="tests.unreachable")
    before = counter._value.get()
    with transaction.atomic():
        audit_record(actor=Actor.system("tests"), action="test.changed", target=merchant)
        enqueue_on_commit(unreachable_task)

    # The send was tried after the commit, failed, and no exception escaped; the change is there.
    assert counter._value.get() == before + 1
    assert AuditEvent.objects.filter(action="test.changed").count() == 1


def test_the_rate_limit_fails_open_when_redis_is_unreachable(api, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.API_THROTTLE_RATE = "1/s"

    answers = [api.get("/api/v1/payments").status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_a_commit_whose_answer_was_lost_is_found_done_when_run_again(merchant, settings):
    """The work commits and the connection dies; run again (as after a COMMIT whose answer was
    lost), it reconnects, sees its own effect and does not repeat it, as every result-recording
    step does."""
    settings.DB_RECONNECT_BACKOFF_SECONDS = 0
    runs: list[str] = []

    def record_once() -> str:
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if locked.name == "Recorded":
            runs.append("found done")
            return "found done"
        Merchant.objects.filter(pk=merchant.pk).update(name="Recorded")
        runs.append("recorded")
        transaction.on_commit(terminate_own_connection)
        return "recorded"

    atomic_with_reconnect(record_once, what="test")
    result = atomic_with_reconnect(record_once, what="test")

    assert (runs, result) == (["recorded", "found done"], "found done")


def test_a_deadlock_or_timeout_is_not_taken_for_a_lost_connection(merchant):
    runs: list[int] = []

    def times_out() -> None:
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(0.05)")

    with pytest.raises(Exception, match="statement timeout"):
        atomic_with_reconnect(times_out, what="test")
    assert runs == [1]
