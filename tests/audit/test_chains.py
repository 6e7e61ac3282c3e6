"""Several audit chains (issue 23): appends for different merchants do not wait for each other,
every chain still detects tampering, and signed checkpoints catch a rewritten or truncated chain."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, transaction

from apps.audit.actors import Actor
from apps.audit.chain import GENESIS_HASH, compute_hash, row_fields
from apps.audit.checkpoints import audit_checkpoint_create
from apps.audit.models import AuditCheckpoint, AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_record, audit_record_atomic, audit_record_many, chain_for
from apps.audit.tasks import audit_checkpoint
from tests.merchants.factories import MerchantFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def record(merchant_id: int | None, action: str = "thing.happened", **kwargs) -> AuditEvent:
    return audit_record_atomic(actor=Actor.system("tests"), action=action, merchant_id=merchant_id, **kwargs)


def _tamper(*statements: tuple[str, list]) -> None:
    """Bypass the append-only triggers the way a database superuser could."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = origin")


def _two_merchants_on_different_chains():
    first = MerchantFactory()
    second = MerchantFactory()
    assert chain_for(first.pk) != chain_for(second.pk)
    return first, second


# Committed transactions: inside one (the django_db fixture's) every row sticks to one chain.
@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_a_merchants_events_form_their_own_chain(settings):
    settings.AUDIT_CHAINS = 8
    first, second = _two_merchants_on_different_chains()
    a1, b1, a2, b2 = record(first.pk), record(second.pk), record(first.pk), record(second.pk)

    assert (a1.chain, a2.chain) == (chain_for(first.pk),) * 2
    assert (b1.chain, b2.chain) == (chain_for(second.pk),) * 2
    assert a2.prev_hash == a1.hash and b2.prev_hash == b1.hash
    report = audit_chain_verify()
    assert report.ok and report.chains >= 2


def _append_with_lock_timeout(merchant_id: int | None) -> None:
    with transaction.atomic():
        connection.cursor().execute("SET LOCAL lock_timeout = '300ms'")
        audit_record(actor=Actor.system("tests"), action="a.waits", merchant_id=merchant_id)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_open_append_for_one_merchant_does_not_hold_up_another():
    """The issue's measurement: merchant A's audited transaction stays open; merchant B's audited
    write no longer waits for it, while a second write for A still does (its chain's lock)."""
    first, second = _two_merchants_on_different_chains()
    appended, release = threading.Event(), threading.Event()

    def hold_open() -> None:
        try:
            with transaction.atomic():
                audit_record(actor=Actor.system("tests"), action="a.open", merchant_id=first.pk)
                appended.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_open)
    holder.start()
    try:
        assert appended.wait(timeout=10)
        started = time.monotonic()
        with transaction.atomic():
            connection.cursor().execute("SET LOCAL lock_timeout = '2s'")
            audit_record(actor=Actor.system("tests"), action="b.write", merchant_id=second.pk)
        assert time.monotonic() - started < 1.0

        with pytest.raises(OperationalError, match="lock timeout"):
            _append_with_lock_timeout(first.pk)
    finally:
        release.set()
        holder.join(timeout=20)
    assert audit_chain_verify().ok


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_transactions_touching_two_merchants_in_opposite_orders_do_not_deadlock():
    """A transaction appends all its rows to the chain of its first one, so it holds one chain
    lock at most: A-then-B and B-then-A at once both commit."""
    first, second = _two_merchants_on_different_chains()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(order: tuple[int, int]) -> None:
        try:
            for n in range(20):
                with transaction.atomic():
                    audit_record(actor=Actor.system("tests"), action=f"x.{n}", merchant_id=order[0])
                    if n == 0:
                        barrier.wait(timeout=10)
                    audit_record(actor=Actor.system("tests"), action=f"y.{n}", merchant_id=order[1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=writer, args=(order,)) for order in ((first.pk, second.pk), (second.pk, first.pk))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    # The second row of each transaction went to the chain of its first.
    for event in AuditEvent.objects.filter(action__startswith="y."):
        assert event.chain == chain_for(first.pk if event.merchant_id == second.pk else second.pk)
    report = audit_chain_verify()
    assert report.ok and report.checked == AuditEvent.objects.count()


def test_a_batch_appends_to_one_chain():
    first, second = _two_merchants_on_different_chains()
    with transaction.atomic():
        audit_record_many(
            [{"actor": Actor.system("tests"), "action": "batch", "merchant_id": pk} for pk in (first.pk, second.pk)]
        )
    chains = set(AuditEvent.objects.filter(action="batch").values_list("chain", flat=True))
    assert chains == {chain_for(first.pk)}
    assert audit_chain_verify().ok


def _old_release_append(occurred_at) -> AuditEvent:
    """What a process of the previous release does: audit_chain_head(bigint), then an INSERT that
    names no chain."""
    fields = row_fields(AuditEvent(action="old.release", actor_type="system", before=None, after=None))
    fields["occurred_at"] = occurred_at
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '2s'")
        cursor.execute("SELECT COALESCE(audit_chain_head(%s), %s)", [0x41554454, GENESIS_HASH])
        head = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_type, actor_id, actor_label, action, target_type, "
            "target_id, target_label, correlation_id, ip_address, user_agent, prev_hash, hash) "
            "VALUES (%s, 'system', '', '', 'old.release', '', '', '', '', '', '', %s, %s) RETURNING id",
            [occurred_at, head, compute_hash(fields, head)],
        )
        return AuditEvent.objects.get(pk=cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_process_of_the_previous_release_appends_to_chain_zero_safely(settings):
    """During a rolling deploy, old processes call audit_chain_head(bigint) and insert without a
    chain: they land in chain 0, after chain 0's head (not the newest row of another chain)."""
    settings.AUDIT_CHAINS = 8
    new = record(None, "new.release")
    merchant = MerchantFactory()
    if chain_for(merchant.pk) == 0:  # ids are not reset between tests: the next one is on chain 1
        merchant = MerchantFactory()
    other = record(merchant.pk, "other.chain")  # newer, in another chain
    assert (new.chain, other.chain != 0) == (0, True)

    legacy = _old_release_append(new.occurred_at)
    after = record(None, "new.again")

    assert (legacy.chain, legacy.prev_hash) == (0, new.hash)
    assert after.prev_hash == legacy.hash
    assert audit_chain_verify().ok


def _hold_in_thread(statements: list[str], held: threading.Event, release: threading.Event) -> threading.Thread:
    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
                held.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("holder", ["new", "old"])
def test_old_and_new_appends_to_chain_zero_wait_for_each_other(holder):
    """An old-release transaction holding the single-chain lock (taken before migration 0007) and
    a new append to chain 0 exclude each other, whichever came first."""
    held, release = threading.Event(), threading.Event()
    statement = (
        "SELECT * FROM audit_chain_append_point(0)"
        if holder == "new"
        else "SELECT pg_advisory_xact_lock(1096107092::bigint)"
    )
    thread = _hold_in_thread([statement], held, release)
    try:
        assert held.wait(timeout=10)
        with pytest.raises(OperationalError, match="lock timeout"):
            _append_with_lock_timeout(None)
    finally:
        release.set()
        thread.join(timeout=20)


def _chain_rows(chain: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=chain).order_by("id"))


@pytest.mark.parametrize("tampering", ["edit", "delete", "reorder"])
@pytest.mark.django_db(transaction=True)
def test_tampering_with_one_chain_is_named(tampering, settings):
    settings.AUDIT_CHAINS = 8
    first, second = _two_merchants_on_different_chains()
    for n in range(4):
        record(first.pk, f"a{n}", after={"n": n})
        record(second.pk, f"b{n}", after={"n": n})
    rows = _chain_rows(chain_for(second.pk))
    if tampering == "edit":
        _tamper(("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"n": 99}', rows[1].id]))
        expected, reason = rows[1].id, "altered"
    elif tampering == "delete":
        _tamper(("DELETE FROM audit_auditevent WHERE id = %s", [rows[1].id]))
        expected, reason = rows[2].id, "removed or reordered"
    else:
        a, b = rows[1].id, rows[2].id
        _tamper(
            ("UPDATE audit_auditevent SET id = -1 WHERE id = %s", [a]),
            ("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, b]),
            ("UPDATE audit_auditevent SET id = %s WHERE id = -1", [b]),
        )
        expected, reason = a, "removed or reordered"

    report = audit_chain_verify(batch_size=3)

    assert report.first_break is not None
    assert report.first_break.event_id == expected
    assert reason in report.first_break.reason


def test_a_truncated_tail_behind_a_checkpoint_is_named(settings):
    settings.AUDIT_CHAINS = 8
    merchant = MerchantFactory()
    events = [record(merchant.pk, f"e{n}") for n in range(5)]
    checkpoint = audit_checkpoint_create()
    assert checkpoint is not None and audit_chain_verify().ok

    _tamper(("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[3].id, events[4].id]))

    report = audit_chain_verify()
    assert report.first_break is not None
    assert (report.first_break.checkpoint_id, report.first_break.event_id) == (checkpoint.id, events[4].id)
    assert "truncated" in report.first_break.reason


def test_a_rewritten_chain_with_recomputed_hashes_is_named(settings):
    settings.AUDIT_CHAINS = 8
    merchant = MerchantFactory()
    events = [record(merchant.pk, f"e{n}", after={"amount": 100}) for n in range(4)]
    checkpoint = audit_checkpoint_create()

    # Rewrite history from the second row on, recomputing every hash so the links still hold.
    statements = []
    prev = events[0].hash
    for event in events[1:]:
        event.refresh_from_db()
        fields = row_fields(event) | {"after": {"amount": 1}}
        digest = compute_hash(fields, prev)
        statements.append(
            ("UPDATE audit_auditevent SET after = %s, prev_hash = %s, hash = %s WHERE id = %s",
             ['{"amount": 1}', prev, digest, event.id])
        )  # fmt: skip
        prev = digest
    _tamper(*statements)

    report = audit_chain_verify()
    assert report.first_break is not None
    assert (report.first_break.checkpoint_id, report.first_break.event_id) == (checkpoint.id, events[-1].id)
    assert "rewritten" in report.first_break.reason


def test_checkpoints_are_signed_and_linked(settings):
    merchant = MerchantFactory()
    record(merchant.pk)
    first = audit_checkpoint_create()
    record(merchant.pk)
    second = audit_checkpoint_create()
    record(merchant.pk)
    third = audit_checkpoint_create()
    assert second.prev_signature == first.signature and third.prev_signature == second.signature
    assert audit_chain_verify().checkpoint_id == third.id

    # Another key (a forger without ours) does not verify.
    settings.AUDIT_CHECKPOINT_KEY = "some-other-key-entirely"
    report = audit_chain_verify()
    assert report.first_break.checkpoint_id == first.id and "signature" in report.first_break.reason
    settings.AUDIT_CHECKPOINT_KEY = ""

    _tamper(("DELETE FROM audit_auditcheckpoint WHERE id = %s", [second.id]))
    report = audit_chain_verify()
    assert report.first_break.checkpoint_id == third.id and "removed" in report.first_break.reason


def test_forged_checkpoint_heads_are_named():
    record(MerchantFactory().pk)
    checkpoint = audit_checkpoint_create()
    _tamper(("UPDATE audit_auditcheckpoint SET heads = %s WHERE id = %s", ['[[0, 1, "ab"]]', checkpoint.id]))

    report = audit_chain_verify()
    assert report.first_break.checkpoint_id == checkpoint.id and "signature" in report.first_break.reason


@pytest.mark.sqlite
def test_the_checkpoint_task_is_safe_to_run_twice():
    record(MerchantFactory().pk)
    record(None)
    audit_checkpoint()
    audit_checkpoint()
    assert AuditCheckpoint.objects.count() == 1
    checkpoint = AuditCheckpoint.objects.get()
    assert sorted(chain for chain, _, _ in checkpoint.heads) == sorted(
        set(AuditEvent.objects.values_list("chain", flat=True))
    )
    assert audit_chain_verify().ok


APPENDER = """
import random
from django.db import transaction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
ids = [int(x) for x in "{ids}".split(",")]
rng = random.Random({seed})
for n in range(40):
    with transaction.atomic():
        for _ in range(rng.choice((1, 1, 2, 3))):
            audit_record(actor=Actor.system("proc{seed}"), action="proc.{seed}", merchant_id=rng.choice(ids))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_many_processes_verify():
    merchants = [MerchantFactory() for _ in range(6)]
    ids = ",".join(str(m.pk) for m in merchants)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "AUDIT_CHAINS": "4",
    }
    command = [sys.executable, "manage.py", "shell", "-c"]
    processes = [
        subprocess.Popen(
            [*command, APPENDER.format(ids=ids, seed=seed)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for seed in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs

    report = audit_chain_verify()
    assert report.ok, report.first_break
    assert AuditEvent.objects.filter(action__startswith="proc.").count() >= 4 * 40
    assert report.chains == len(set(AuditEvent.objects.values_list("chain", flat=True)))
    assert audit_checkpoint_create() is not None and audit_chain_verify().ok


def test_a_rotated_checkpoint_key_verifies_the_older_checkpoints_while_listed(settings):
    settings.AUDIT_CHECKPOINT_KEY = "the-first-checkpoint-key-0123"
    record(MerchantFactory().pk)
    first = audit_checkpoint_create()

    settings.AUDIT_CHECKPOINT_KEY = "the-second-checkpoint-key-4567"
    settings.AUDIT_CHECKPOINT_KEY_FALLBACKS = ["the-first-checkpoint-key-0123"]
    record(None)
    second = audit_checkpoint_create()
    assert first is not None and second is not None
    assert audit_chain_verify().ok

    settings.AUDIT_CHECKPOINT_KEY_FALLBACKS = []
    report = audit_chain_verify()
    assert report.first_break is not None and report.first_break.checkpoint_id == first.id


def test_events_no_checkpoint_signs_are_named_once_they_are_stale():
    from datetime import timedelta

    early = record(MerchantFactory().pk)
    time.sleep(0.01)
    assert not audit_chain_verify(stale_after=timedelta(milliseconds=1)).ok  # no checkpoint at all
    assert audit_chain_verify(stale_after=timedelta(hours=1)).ok

    checkpoint = audit_checkpoint_create()
    assert checkpoint is not None and audit_chain_verify(stale_after=timedelta(milliseconds=1)).ok
    late = record(MerchantFactory().pk)
    time.sleep(0.01)
    report = audit_chain_verify(stale_after=timedelta(milliseconds=1))
    assert report.first_break is not None and report.first_break.event_id == late.id
    assert "checkpoint task" in report.first_break.reason and early.id != late.id


def test_a_checkpoint_known_from_the_log_must_still_be_there():
    record(MerchantFactory().pk)
    first = audit_checkpoint_create()
    record(None)
    newest = audit_checkpoint_create()
    assert first is not None and newest is not None
    assert audit_chain_verify(expected=(newest.id, newest.signature)).ok

    # The newest checkpoint (and the events it signed) removed: the chains and the older
    # checkpoints still verify; only the copy from the log tells.
    _tamper(("DELETE FROM audit_auditcheckpoint WHERE id = %s", [newest.id]))
    assert audit_chain_verify().ok
    report = audit_chain_verify(expected=(newest.id, newest.signature))
    assert report.first_break is not None and report.first_break.checkpoint_id == newest.id

    out = StringIO()
    with pytest.raises(CommandError, match=f"BROKEN at checkpoint {newest.id}"):
        call_command("verify_audit_chain", f"--expect={newest.id}:{newest.signature}", stdout=out)
    with pytest.raises(CommandError, match="ID:SIGNATURE"):
        call_command("verify_audit_chain", "--expect=nonsense")
    call_command("verify_audit_chain", "--stale-after=0", stdout=out)
    assert f"latest checkpoint {first.id} matches" in out.getvalue()
