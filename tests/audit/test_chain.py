from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.audit.actors import Actor
from apps.audit.chain import GENESIS_HASH
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify, audit_events_for
from apps.audit.services import AuditOutsideTransaction, audit_record, audit_record_atomic
from apps.core.context import RequestContext, request_context

pytestmark = pytest.mark.django_db


def record(action: str = "thing.happened", **kwargs) -> AuditEvent:
    return audit_record_atomic(actor=Actor.system("tests"), action=action, **kwargs)


@pytest.mark.sqlite
def test_each_event_links_to_the_previous_one():
    first, second, third = record("a"), record("b"), record("c")

    assert first.prev_hash == GENESIS_HASH or AuditEvent.objects.filter(id__lt=first.id).exists()
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert audit_chain_verify().ok


@pytest.mark.sqlite
def test_request_context_and_target_are_recorded(merchant):
    context = RequestContext(request_id="req_audit", ip_address="203.0.113.5", user_agent="pytest-agent")
    with request_context(context):
        event = record("merchant.touched", target=merchant, before={"a": 1}, after={"a": 2})

    event.refresh_from_db()
    assert (event.correlation_id, event.ip_address, event.user_agent) == ("req_audit", "203.0.113.5", "pytest-agent")
    assert (event.target_type, event.target_id, event.merchant_id) == (
        "merchants.merchant",
        merchant.public_id,
        merchant.pk,
    )
    assert audit_events_for(target_type="merchants.merchant", target_id=merchant.public_id)[-1] == event


@pytest.mark.django_db(transaction=True)
@pytest.mark.sqlite
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(AuditOutsideTransaction):
        audit_record(actor=Actor.system(), action="x")


def _change_that_fails() -> None:
    with transaction.atomic():
        audit_record(actor=Actor.system(), action="doomed")
        raise RuntimeError("rollback")


@pytest.mark.sqlite
def test_a_rolled_back_change_leaves_no_audit_event():
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        _change_that_fails()

    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("statement", ["UPDATE audit_auditevent SET action = 'forged'", "DELETE FROM audit_auditevent"])
def test_postgres_rejects_update_and_delete(statement):
    record("kept")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert AuditEvent.objects.filter(action="kept").exists()


def _tamper(sql: str, params: list) -> None:
    """Bypass the trigger the way a database superuser could, to prove the chain still tells."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = origin")


def test_verify_reports_the_first_altered_row():
    events = [record(f"e{i}", after={"i": i}) for i in range(5)]
    _tamper("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"i": 99}', events[2].id])

    report = audit_chain_verify(batch_size=2)

    assert not report.ok
    assert report.first_break.event_id == events[2].id
    assert "altered" in report.first_break.reason


def test_verify_reports_a_removed_row():
    events = [record(f"e{i}") for i in range(4)]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])

    report = audit_chain_verify()

    assert report.first_break.event_id == events[2].id
    assert "removed" in report.first_break.reason


def test_verify_command_output_and_exit_status():
    event = record("x")
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "Audit chain OK" in out.getvalue()

    _tamper("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s", [event.id])
    with pytest.raises(CommandError, match=f"BROKEN at event {event.id}"):
        call_command("verify_audit_chain")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    """16 threads with their own connections append at once; the chain stays one line."""
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            barrier.wait()
            for n in range(10):
                record(f"t{index}.{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    report = audit_chain_verify()
    assert report.ok
    assert report.checked == AuditEvent.objects.count()
    assert AuditEvent.objects.filter(action__startswith="t").count() == 160
    assert len(set(AuditEvent.objects.values_list("prev_hash", flat=True))) == AuditEvent.objects.count()
